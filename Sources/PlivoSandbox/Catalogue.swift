import Foundation

/// The document types and compliance requirements the sandbox ships, as Plivo has a fixed catalogue.
/// Ids are derived from names, so they are the same in every run.
struct Catalogue: Sendable {
    struct Field: Sendable {
        var name: String
        var type: String
        var friendly: String
        var required: Bool
        var enums: [String] = []
        var format: String? = nil
        var maxLength: Int? = 100
    }

    struct DocumentType: Sendable {
        var id: String
        var name: String
        var description: String
        var proofRequired: String
        var fields: [Field]
    }

    struct Requirement: Sendable {
        var id: String
        var country: String
        var numberType: String
        var endUserType: String
        /// (group name, scope, acceptable document type ids)
        var groups: [(name: String, scope: String, types: [String])]
    }

    let documentTypes: [DocumentType]
    let requirements: [Requirement]

    /// Countries with their E.164 prefixes, used by the phone-number lookup.
    static let countries: [(iso2: String, prefix: String, mobilePrefixes: [String])] = [
        ("FR", "33", ["6", "7"]), ("DE", "49", ["15", "16", "17"]), ("ES", "34", ["6", "7"]),
        ("GB", "44", ["7"]), ("IN", "91", ["6", "7", "8", "9"]), ("BE", "32", ["4"]), ("US", "1", []),
    ]
    static let numberTypes = ["local", "mobile", "tollfree"]
    static let endUserTypes = ["business", "individual"]

    static let standard: Catalogue = {
        let types = [
            DocumentType(
                id: stableId("doctype:address"),
                name: "Address Information",
                description: "End User Residential Address information",
                proofRequired: "Not required",
                fields: [
                    Field(name: "address_line_1", type: "string", friendly: "Address Line 1", required: true),
                    Field(name: "address_line_2", type: "string", friendly: "Address Line 2", required: false),
                    Field(name: "city", type: "string", friendly: "City", required: true),
                    Field(name: "postal_code", type: "string", friendly: "Postal Code", required: true),
                    Field(name: "country", type: "string", friendly: "Country", required: true, maxLength: 2),
                ]
            ),
            DocumentType(
                id: stableId("doctype:utility-bill"),
                name: "Utility Bill",
                description: "A utility bill issued within the last 3 months",
                proofRequired: "Scanned copy of the Bill",
                fields: [
                    Field(
                        name: "type_of_utility",
                        type: "enum",
                        friendly: "Type of Utility",
                        required: true,
                        enums: ["Water", "Electricity", "Gas", "Property Rental", "Others"]
                    ),
                    Field(name: "billing_id", type: "string", friendly: "Billing ID", required: false),
                    Field(
                        name: "billing_date",
                        type: "date",
                        friendly: "Billing Date",
                        required: false,
                        format: "YYYY-MM-DD"
                    ),
                ]
            ),
            DocumentType(
                id: stableId("doctype:passport"),
                name: "Passport",
                description: "A valid passport of the end user",
                proofRequired: "Scanned copy of the passport",
                fields: [
                    Field(name: "first_name", type: "string", friendly: "First Name", required: true),
                    Field(name: "last_name", type: "string", friendly: "Last Name", required: true),
                    Field(
                        name: "unique_identification_number",
                        type: "string",
                        friendly: "Passport Number",
                        required: true
                    ),
                    Field(name: "nationality", type: "string", friendly: "Nationality", required: false),
                    Field(
                        name: "date_of_birth",
                        type: "date",
                        friendly: "Date of Birth",
                        required: false,
                        format: "YYYY-MM-DD"
                    ),
                    Field(
                        name: "date_of_expiration",
                        type: "date",
                        friendly: "Expiry Date",
                        required: false,
                        format: "YYYY-MM-DD"
                    ),
                ]
            ),
            DocumentType(
                id: stableId("doctype:registration"),
                name: "Registration Certificate",
                description: "Certificate of incorporation or trade register extract",
                proofRequired: "Scanned copy of the certificate",
                fields: [
                    Field(name: "business_name", type: "string", friendly: "Legal Name", required: true, maxLength: 50),
                    Field(
                        name: "unique_identification_number",
                        type: "string",
                        friendly: "Registration Number",
                        required: false
                    ),
                    Field(
                        name: "date_of_issue",
                        type: "date",
                        friendly: "Date of Issue",
                        required: false,
                        format: "YYYY-MM-DD"
                    ),
                ]
            ),
            DocumentType(
                id: stableId("doctype:tax"),
                name: "Tax Certificate",
                description: "Tax registration of the business",
                proofRequired: "Scanned copy of the certificate",
                fields: [Field(name: "tax_code", type: "string", friendly: "Tax Code", required: true)]
            ),
        ]
        let address = types[0].id, bill = types[1].id, passport = types[2].id, registration = types[3].id,
            tax = types[4].id
        var requirements: [Requirement] = []
        for country in countries {
            for numberType in numberTypes {
                for endUserType in endUserTypes {
                    var groups: [(String, String, [String])] = [
                        ("End User Address Details", "local", [address]),
                        ("Proof of Address ", "local", [bill]),
                    ]
                    groups.append(
                        endUserType == "business"
                            ? ("Proof of Business", "national", [registration, tax])
                            : ("Proof of Identity", "national", [passport])
                    )
                    requirements.append(
                        Requirement(
                            id: stableId("requirement:\(country.iso2):\(numberType):\(endUserType)"),
                            country: country.iso2,
                            numberType: numberType,
                            endUserType: endUserType,
                            groups: groups
                        )
                    )
                }
            }
        }
        return Catalogue(documentTypes: types, requirements: requirements)
    }()

    func documentType(_ id: String) -> DocumentType? { documentTypes.first { $0.id == id } }
    func requirement(_ id: String) -> Requirement? { requirements.first { $0.id == id } }

    func requirement(country: String, numberType: String, endUserType: String) -> Requirement? {
        requirements.first {
            $0.country.caseInsensitiveCompare(country) == .orderedSame
                && $0.numberType.caseInsensitiveCompare(numberType) == .orderedSame
                && $0.endUserType.caseInsensitiveCompare(endUserType) == .orderedSame
        }
    }

    /// Finds the country and number type of an E.164 number.
    func classify(phoneNumber: String) -> (country: String, numberType: String)? {
        let digits = phoneNumber.filter(\.isNumber)
        for country in Self.countries.sorted(by: { $0.prefix.count > $1.prefix.count })
        where digits.hasPrefix(country.prefix) {
            let national = digits.dropFirst(country.prefix.count)
            if national.hasPrefix("800") { return (country.iso2, "tollfree") }
            if country.mobilePrefixes.contains(where: { national.hasPrefix($0) }) { return (country.iso2, "mobile") }
            return (country.iso2, "local")
        }
        return nil
    }
}

/// A UUID-shaped id derived from a name (FNV-1a over two seeds), stable across runs.
func stableId(_ name: String) -> String {
    func fnv(_ seed: UInt64) -> UInt64 {
        var hash: UInt64 = seed
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        return hash
    }
    let a = fnv(0xcbf29ce484222325), b = fnv(0x84222325cbf29ce4)
    let hex = String(format: "%016llx%016llx", a, b)
    let c = Array(hex)
    return
        "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
}

/// A random lowercase UUID, as Plivo's ids look.
func randomId() -> String { UUID().uuidString.lowercased() }
