import Foundation
import LabActions
import LIMSCore
import QueueCore

/// LIMS objects as senaite.jsonapi items: `uid`, `id`, `path`, `portal_type`, `review_state` (null for objects
/// without a workflow), `url`, `parent_uid`, plus the object's own fields under their Swift names (e.g.
/// `clientUID`, `layout` with SENAITE's `position`/`type`/`container_uid`/`analysis_uid`), and the catalog-style
/// getters `getClientUID` (samples, contacts), `getClientSampleID` (samples) and `getServiceUID` (analyses). Instants (`created`,
/// `dateReceived`, ...) are Unix epoch seconds. A user's `passwordHash` is never included.
enum LabObjectJSON {
    /// The item for `object`; `baseURL` is `scheme://host/<api prefix>` and the item's `url` is `baseURL/<uid>`.
    static func item(_ object: any LabObject, baseURL: String) -> [String: JSONValue] {
        var fields = encoded(object)
        fields["passwordHash"] = nil
        fields["version"] = nil
        fields["uid"] = .string(object.uid)
        fields["id"] = .string(object.id)
        fields["path"] = .string(object.path)
        fields["portal_type"] = .string(type(of: object).portalType.rawValue)
        fields["review_state"] = object.workflowState.map(JSONValue.string) ?? .null
        fields["parent_uid"] = object.parentUID.map(JSONValue.string) ?? .null
        fields["url"] = .string("\(baseURL)/\(object.uid)")
        if let client = clientUID(of: object) { fields["getClientUID"] = .string(client) }
        if let analysis = object as? any AnalysisRecord { fields["getServiceUID"] = .string(analysis.serviceUID) }
        // SENAITE's sample catalog metadata: empty text when the client gave none.
        if let sample = object as? Sample { fields["getClientSampleID"] = .string(sample.clientSampleID ?? "") }
        return fields
    }

    /// The client uid a `getClientUID` filter compares: a sample's or a contact's client, nil for other types.
    static func clientUID(of object: any LabObject) -> String? {
        switch object {
        case let sample as Sample: sample.clientUID
        case let contact as Contact: contact.clientUID
        default: nil
        }
    }

    private static func encoded(_ object: some LabObject) -> [String: JSONValue] {
        guard let data = try? JSONEncoder().encode(object),
              let value = try? JSONValue.parse(data), let members = value.objectValue
        else { return [:] }
        return members
    }
}
