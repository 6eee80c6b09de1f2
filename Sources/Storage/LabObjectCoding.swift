import Foundation
import LIMSCore

/// JSON documents of LIMS objects, by portal type.
enum LabObjectCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func encode(_ object: any LabObject) throws -> String {
        String(decoding: try encoder.encode(object), as: UTF8.self)
    }

    /// Decodes a stored document of `portalType`, with the stored `version`.
    /// - Throws: ``StorageError/corruptRow(_:)`` for an unknown portal type; decoding errors.
    static func decode(_ body: String, portalType: String, version: Int) throws -> any LabObject {
        guard let type = PortalType(rawValue: portalType) else { throw StorageError.corruptRow("lims_objects.portal_type \(portalType)") }
        let data = Data(body.utf8)
        let decoder = JSONDecoder()
        func read<T: LabObject>(_ kind: T.Type) throws -> any LabObject {
            var object = try decoder.decode(kind, from: data)
            object.version = version
            return object
        }
        switch type {
        case .client: return try read(Client.self)
        case .contact: return try read(Contact.self)
        case .labContact: return try read(LabContact.self)
        case .user: return try read(User.self)
        case .sampleType: return try read(SampleType.self)
        case .analysisCategory: return try read(AnalysisCategory.self)
        case .analysisService: return try read(AnalysisService.self)
        case .method: return try read(LIMSCore.Method.self)
        case .instrument: return try read(Instrument.self)
        case .referenceDefinition: return try read(ReferenceDefinition.self)
        case .referenceSample: return try read(ReferenceSample.self)
        case .sample: return try read(Sample.self)
        case .analysis: return try read(Analysis.self)
        case .duplicateAnalysis: return try read(DuplicateAnalysis.self)
        case .referenceAnalysis: return try read(ReferenceAnalysis.self)
        case .worksheet: return try read(Worksheet.self)
        case .worksheetTemplate: return try read(WorksheetTemplate.self)
        }
    }
}
