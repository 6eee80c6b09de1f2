import LIMSCore

/// Natural-key look-ups shared by validation and application, so both match the same objects.
/// When several objects share a key, the oldest (by creation instant, then id) wins.
extension LabState {
    func importOldest<T: LabObject>(_ values: Dictionary<String, T>.Values, where match: (T) -> Bool) -> T? {
        values.filter(match).min { ($0.created, $0.id, $0.uid) < ($1.created, $1.id, $1.uid) }
    }

    /// A lab contact by linked user name when one is given and taken, else by first name and surname.
    func importMatchLabContact(firstname: String, surname: String, username: String?) -> LabContact? {
        if let username, let byUser = importOldest(labContacts.values, where: { $0.username == username }) {
            return byUser
        }
        return importOldest(labContacts.values) { $0.firstname == firstname && $0.surname == surname }
    }

    func importClient(named name: String) -> Client? {
        importOldest(clients.values) { $0.name == name }
    }

    func importMatchContact(clientUID: String, firstname: String, surname: String) -> Contact? {
        importOldest(contacts.values) {
            $0.clientUID == clientUID && $0.firstname == firstname && $0.surname == surname
        }
    }

    func importSampleType(titled title: String) -> SampleType? {
        importOldest(sampleTypes.values) { $0.title == title }
    }

    func importMethod(titled title: String) -> Method? {
        importOldest(methods.values) { $0.title == title }
    }

    func importInstrument(titled title: String) -> Instrument? {
        importOldest(instruments.values) { $0.title == title }
    }

    func importCategory(titled title: String) -> AnalysisCategory? {
        importOldest(analysisCategories.values) { $0.title == title }
    }

    func importService(keyword: String) -> AnalysisService? {
        importOldest(analysisServices.values) { $0.keyword == keyword }
    }

    func importDefinition(titled title: String) -> ReferenceDefinition? {
        importOldest(referenceDefinitions.values) { $0.title == title }
    }

    /// A reference sample by the workbook's `id`, stored as its title (LIMSCore assigns `SA-nnnn` ids), or by id.
    func importReferenceSample(_ sampleID: String) -> ReferenceSample? {
        importOldest(referenceSamples.values) { $0.title == sampleID }
            ?? importOldest(referenceSamples.values) { $0.id == sampleID }
    }

    func importTemplate(titled title: String) -> WorksheetTemplate? {
        importOldest(worksheetTemplates.values) { $0.title == title }
    }
}
