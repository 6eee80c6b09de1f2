import LIMSCore

/// The sheet names the importer reads, in import (dependency) order.
///
/// Source: senaite.core `setupdata` workbook (`bika/lims/exportimport/setupdata/__init__.py`).
public enum SetupSheetName {
    public static let labDepartments = "Lab Departments"
    public static let labContacts = "Lab Contacts"
    public static let clients = "Clients"
    public static let clientContacts = "Client Contacts"
    public static let sampleTypes = "Sample Types"
    public static let methods = "Methods"
    public static let instruments = "Instruments"
    public static let analysisCategories = "Analysis Categories"
    public static let analysisServices = "Analysis Services"
    public static let serviceMethods = "AnalysisService Methods"
    public static let serviceInstruments = "AnalysisService Instruments"
    public static let referenceDefinitions = "Reference Definitions"
    public static let referenceDefinitionResults = "Reference Definition Results"
    public static let referenceSamples = "Reference Samples"
    public static let referenceSampleResults = "Reference Sample Results"
    public static let worksheetTemplates = "Worksheet Templates"
    public static let worksheetTemplateServices = "Worksheet Template Services"
    public static let worksheetTemplateLayouts = "Worksheet Template Layouts"

    /// Every sheet read, in the order they are imported. Reference definitions come before worksheet
    /// templates because template layouts name them.
    public static let all: [String] = [
        labDepartments, labContacts, clients, clientContacts, sampleTypes, methods, instruments,
        analysisCategories, analysisServices, serviceMethods, serviceInstruments, referenceDefinitions,
        referenceDefinitionResults, referenceSamples, referenceSampleResults, worksheetTemplates,
        worksheetTemplateServices, worksheetTemplateLayouts,
    ]
}

/// The validated content of a workbook, with every reference given by natural key (service references by
/// keyword). Built by ``ImportValidator`` only when there was no problem; applied by ``ImportApplier``.
struct ImportPlan {
    struct UserRow {
        var username: String
        /// Clear text, hashed by the applier; nil = keep the existing hash.
        var password: String?
        var roles: Set<Role>
        var groups: [String]
    }

    struct LabContactRow {
        var row: Int
        var firstname: String
        var surname: String
        var email: String
        var user: UserRow?
    }

    struct ClientRow {
        var row: Int
        var name: String
        var clientID: String
        var email: String
        var phone: String
    }

    struct ContactRow {
        var row: Int
        var clientName: String
        var firstname: String
        var surname: String
        var email: String
        var user: UserRow?
    }

    struct SampleTypeRow {
        var row: Int
        var title: String
        var prefix: String
    }

    struct TitleRow {
        var row: Int
        var title: String
    }

    struct InstrumentRow {
        var row: Int
        var title: String
        var methodTitle: String?
    }

    struct ServiceRow {
        var row: Int
        var title: String
        var keyword: String
        var unit: String
        var categoryTitle: String
        var defaultMethodTitle: String?
        var defaultInstrumentTitle: String?
    }

    /// A service ↔ method / instrument / template link.
    struct ServiceLink {
        var row: Int
        var keyword: String
        var target: String
    }

    struct ReferenceDefinitionRow {
        var row: Int
        var title: String
        var blank: Bool
    }

    struct ResultRow {
        var row: Int
        /// Reference definition title or reference sample id.
        var owner: String
        var keyword: String
        var value: ReferenceValue
    }

    struct ReferenceSampleRow {
        var row: Int
        var sampleID: String
        var definitionTitle: String?
        var blank: Bool?
        var expiryDate: Double?
        var dateDisposed: Double?
    }

    struct TemplateRow {
        var row: Int
        var title: String
        var instrumentTitle: String?
    }

    struct LayoutRow {
        var row: Int
        var templateTitle: String
        var pos: Int
        var type: SlotType
        var blankRef: String?
        var controlRef: String?
        var dup: Int?
    }

    var labContacts: [LabContactRow] = []
    var clients: [ClientRow] = []
    var contacts: [ContactRow] = []
    var sampleTypes: [SampleTypeRow] = []
    var methods: [TitleRow] = []
    var instruments: [InstrumentRow] = []
    var categories: [TitleRow] = []
    var services: [ServiceRow] = []
    var serviceMethods: [ServiceLink] = []
    var serviceInstruments: [ServiceLink] = []
    var referenceDefinitions: [ReferenceDefinitionRow] = []
    var definitionResults: [ResultRow] = []
    var referenceSamples: [ReferenceSampleRow] = []
    var sampleResults: [ResultRow] = []
    var templates: [TemplateRow] = []
    var templateServices: [ServiceLink] = []
    var layouts: [LayoutRow] = []

    /// Record count per sheet name (for progress); a sheet absent from the workbook counts 0.
    var rowCounts: [String: Int] = [:]
}
