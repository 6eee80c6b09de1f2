import LIMSCore

/// The catalog columns of one LIMS object: what listings, guards and tasks filter, sort and join on, kept in
/// `lims_objects` beside the object's JSON document and written in the same statement.
///
/// Like SENAITE's catalogs (portal_catalog, the sample catalog, the analysis catalog; reference 3), each
/// column is an index of a field of the object:
/// - `object_id`: the SENAITE id (sorting, search);
/// - `client_uid`: the client of samples and contacts (listing filter `getClientUID`, client subtrees);
/// - `sample_uid`, `worksheet_uid`, `service_uid`: where an analysis belongs (a sample's analyses, a worksheet's,
///   `getServiceUID`);
/// - `lookup_key`: the unique name setup objects are found by (user id, service keyword, sample type prefix),
///   and a worksheet's analyst;
/// - `sort_key`: for samples in `sample_received` (the only ones with analyses to assign), `<priority>|<id>`, the
///   order worksheet templates pick samples in (reference 3.5); NULL for other samples and every other type.
/// The `allowedRolesAndUsers` tokens live in `lims_security`.
struct CatalogColumns: Sendable, Equatable {
    var objectID: String
    var clientUID: String?
    var sampleUID: String?
    var worksheetUID: String?
    var serviceUID: String?
    var lookupKey: String?
    var sortKey: String?

    /// The catalog columns of `object`.
    init(_ object: any LabObject) {
        objectID = object.id
        switch object {
        case let sample as Sample:
            clientUID = sample.clientUID
            // Only received samples still waiting for work can give a template routine analyses: the pick walks
            // these alone, not the lab's history.
            sortKey = sample.dateReceived != nil && sample.reviewState == ReviewState.sampleReceived
                ? Self.sampleSortKey(priority: sample.priority, id: sample.id) : nil
        case let contact as Contact:
            clientUID = contact.clientUID
        case let record as any AnalysisRecord:
            sampleUID = record.sampleUID
            worksheetUID = record.worksheetUID
            serviceUID = record.serviceUID
        case let user as User:
            lookupKey = user.userid
        case let worksheet as Worksheet:
            lookupKey = worksheet.analyst
        case let service as AnalysisService:
            lookupKey = service.keyword
        case let sampleType as SampleType:
            lookupKey = sampleType.prefix
        default:
            break
        }
    }

    /// `<priority>|<id>`: sorts as worksheet templates pick samples (priority, then id; reference 3.5). The
    /// priority is one digit (1...5), so byte order of the key is the rule's order.
    static func sampleSortKey(priority: Int, id: String) -> String {
        "\(min(9, max(0, priority)))|\(id)"
    }
}
