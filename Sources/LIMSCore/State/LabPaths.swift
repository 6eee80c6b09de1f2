/// Folder paths and id formats of the LIMS tree.
///
/// Source: SENAITE site layout (`/senaite/clients`, `/senaite/worksheets`, `/senaite/bika_setup/...`) and the
/// ID server defaults (`{sampleType}-{seq:04d}`, `WS-{seq:04d}`), reference 3.
public enum LabPaths {
    public static let portal = "/senaite"
    public static let clients = "/senaite/clients"
    public static let worksheets = "/senaite/worksheets"
    public static let setup = "/senaite/bika_setup"
    public static let users = "/senaite/acl_users"
    public static let labContacts = "/senaite/bika_setup/bika_labcontacts"
    public static let sampleTypes = "/senaite/bika_setup/bika_sampletypes"
    public static let analysisCategories = "/senaite/bika_setup/bika_analysiscategories"
    public static let analysisServices = "/senaite/bika_setup/bika_analysisservices"
    public static let methods = "/senaite/bika_setup/methods"
    public static let instruments = "/senaite/bika_setup/bika_instruments"
    public static let referenceDefinitions = "/senaite/bika_setup/bika_referencedefinitions"
    public static let referenceSamples = "/senaite/bika_setup/referencesamples"
    public static let worksheetTemplates = "/senaite/bika_setup/bika_worksheettemplates"

    /// `value` left-padded with zeros to `width` digits: `padded(7, 4)` == `"0007"`.
    public static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
