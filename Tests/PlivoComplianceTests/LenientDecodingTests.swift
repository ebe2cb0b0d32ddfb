import CurlHTTP
import Foundation
@testable import PlivoCompliance
import Testing

private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(json.utf8))
}

@Suite("Lenient decoding")
struct LenientDecodingTests {
    @Test("the documented application object decodes, unknown fields ignored")
    func application() throws {
        let app = try decode(
            ComplianceApplication.self,
            """
            {"api_id":"5d3a","compliance_application_id":"7c83","alias":"acme-fr-mobile","status":"rejected",
             "rejection_reason":"Address proof is older than 3 months","end_user_id":"f7ba","end_user_type":"business",
             "country_iso2":"FR","number_type":"mobile","compliance_requirement_id":"4ae4",
             "documents":[{"document_id":"4a95","name":"Proof of Address","document_name":"acme utility bill",
                           "document_type_id":"e9b0","document_type_name":"Utility Bill","scope":"local","extra":1}],
             "created_at":"2021-02-08T19:32:33.240504+00:00","last_updated_at":"whatever","callback_url":null}
            """
        )
        #expect(app.id == "7c83")
        #expect(app.status == .rejected)
        #expect(app.rejectionReason == "Address proof is older than 3 months")
        #expect(app.documents.count == 1)
        #expect(app.documents[0].documentTypeName == "Utility Bill")
        #expect(app.createdAt?.date == Date(timeIntervalSince1970: 1_612_812_753.240504))
    }

    @Test(
        "null, empty string and a missing key all mean absent",
        arguments: [
            #""rejection_reason":null,"alias":null"#, #""rejection_reason":"","alias":"""#, #""x":1"#,
        ]
    )
    func absentValues(fragment: String) throws {
        let app = try decode(
            ComplianceApplication.self,
            #"{"compliance_application_id":"a","status":"draft","documents":[],\#(fragment)}"#
        )
        #expect(app.rejectionReason == nil)
        #expect(app.alias == nil)
        #expect(app.documents.isEmpty)
        #expect(app.createdAt == nil)
    }

    @Test("statuses are kept as given and compared case-insensitively")
    func statuses() throws {
        let upper = try decode(
            ComplianceApplication.self,
            #"{"compliance_application_id":"a","status":"Accepted","documents":[]}"#
        )
        #expect(upper.status == .accepted)
        #expect(upper.status.rawValue == "Accepted")
        let unknown = try decode(
            ComplianceApplication.self,
            #"{"compliance_application_id":"a","status":"suspended","documents":[]}"#
        )
        #expect(unknown.status.rawValue == "suspended")
        #expect(!ApplicationStatus.known.contains(unknown.status))
        #expect(!unknown.status.isSettled)
        #expect(Set([ApplicationStatus("REJECTED"), .rejected]).count == 1)
    }

    @Test("an application without an id is an error, not a silent empty value")
    func missingId() {
        #expect(throws: DecodingError.self) {
            try decode(ComplianceApplication.self, #"{"status":"draft","compliance_application_id":""}"#)
        }
    }

    @Test(
        "an application whose id, status or documents cannot be trusted is an error, never a default",
        arguments: [
            #""status":"draft","documents":[]"#,
            #""compliance_application_id":null,"status":"draft","documents":[]"#,
            #""compliance_application_id":"","status":"draft","documents":[]"#,
            #""compliance_application_id":42,"status":"draft","documents":[]"#,
            #""compliance_application_id":"a","documents":[]"#,
            #""compliance_application_id":"a","status":null,"documents":[]"#,
            #""compliance_application_id":"a","status":"","documents":[]"#,
            #""compliance_application_id":"a","status":" ","documents":[]"#,
            #""compliance_application_id":"a","status":1,"documents":[]"#,
            #""compliance_application_id":"a","status":{"x":"accepted"},"documents":[]"#,
            #""compliance_application_id":"a","status":"draft""#,
            #""compliance_application_id":"a","status":"draft","documents":null"#,
            #""compliance_application_id":"a","status":"draft","documents":"d1""#,
            #""compliance_application_id":"a","status":"draft","documents":[{"document_id":"d1"},"oops"]"#,
            #""compliance_application_id":"a","status":"draft","documents":[{"document_id":"d1"},null]"#,
            #""compliance_application_id":"a","status":"draft","documents":[{"name":"Proof of Address"}]"#,
            #""compliance_application_id":"a","status":"draft","documents":[{"document_id":null}]"#,
            #""compliance_application_id":"a","status":"draft","documents":[{"document_id":""}]"#,
        ]
    )
    func untrustworthy(fragment: String) {
        #expect(throws: DecodingError.self) {
            try decode(ComplianceApplication.self, "{\(fragment)}")
        }
    }

    @Test("a page with one untrustworthy application is malformed as a whole")
    func malformedPage() {
        #expect(throws: DecodingError.self) {
            try decode(
                Page<ComplianceApplication>.self,
                #"{"meta":{"limit":20,"offset":0},"objects":[{"compliance_application_id":"a","status":"draft","documents":[]},{"compliance_application_id":"b","status":null,"documents":[]}]}"#
            )
        }
    }

    @Test("document list and get spell the id and file differently")
    func documentKeySplit() throws {
        let listed = try decode(
            ComplianceDocument.self,
            #"{"compliance_document_id":"8db8","file":"bill.pdf","meta_information":{"business_name":"Acme SAS","count":3},"created_at":"2021-02-02 08:08:10.312992 +0000 UTC"}"#
        )
        let got = try decode(
            ComplianceDocument.self,
            #"{"api_id":"x","document_id":"8db8","file_name":"bill.pdf","meta_information":{"tax_code":"150"},"created_at":"2022-06-06T05:33:12.075868Z"}"#
        )
        #expect(listed.id == "8db8")
        #expect(got.id == "8db8")
        #expect(listed.fileName == "bill.pdf")
        #expect(got.fileName == "bill.pdf")
        #expect(listed.metaInformation == ["business_name": "Acme SAS", "count": "3"])
        #expect(got.metaInformation["tax_code"] == "150")
        #expect(listed.createdAt?.date != nil)
    }

    @Test(
        "created_at parses in all five forms Plivo sends",
        arguments: [
            ("2022-06-06T05:33:12.075868Z", 1_654_493_592.075868),
            ("2021-02-08T05:28:49.238152984Z", 1_612_762_129.238153),
            ("2021-02-08T19:32:33.240504+00:00", 1_612_812_753.240504),
            ("2018-11-03 19:32:33.240504+00:00", 1_541_273_553.240504),
            ("2021-02-02 08:08:10.312992 +0000 UTC", 1_612_253_290.312992),
            ("2021-02-08T21:32:33+02:00", 1_612_812_753),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("1969-12-31T23:59:59Z", -1),
            ("2000-03-01T00:00:00-05:30", 951_888_600),
        ]
    )
    func timestamps(raw: String, epoch: Double) throws {
        let stamp = PlivoTimestamp(raw: raw)
        let date = try #require(stamp.date)
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.001)
        #expect(stamp.raw == raw)
    }

    @Test(
        "an unparseable timestamp keeps the raw text and does not fail the object",
        arguments: [
            "yesterday", "2021-13-45T99:00:00Z", "2021-02-08T19:32:33.240504+0", "",
            "2023-02-29T00:00:00Z", "2021-04-31T10:00:00Z", "2021-02-08T24:00:00Z", "2021-02-08T10:61:00Z",
        ]
    )
    func badTimestamps(raw: String) throws {
        let user = try decode(EndUser.self, #"{"end_user_id":"u","created_at":"\#(raw)"}"#)
        #expect(user.createdAt?.date == nil)
        #expect(user.createdAt?.raw == (raw.isEmpty ? nil : raw))
    }

    @Test("end user: created_on typo, capitalised type, empty last name")
    func endUser() throws {
        let user = try decode(
            EndUser.self,
            #"{"end_user_id":"3698","name":"Sample","last_name":"","end_user_type":"Individual","created_on":"2021-02-08T05:28:49.238152984Z","message":"created"}"#
        )
        #expect(user.lastName == nil)
        #expect(user.endUserType == "Individual")
        #expect(user.createdAt?.date != nil)
    }

    @Test("document type: proof_required as text or bool, lengths as strings or numbers")
    func documentType() throws {
        let type = try decode(
            DocumentType.self,
            """
            {"document_type_id":"t","document_name":"Utility Bill","proof_required":"Scanned copy of the Bill",
             "information":[{"field_name":"type_of_utility","field_type":"enum","max_length":"100","min_length":1,
                             "enums":["Water","Gas"]}],"created_at":"2018-11-03 19:32:33.240504+00:00"}
            """
        )
        #expect(type.proofRequired == .string("Scanned copy of the Bill"))
        #expect(type.information[0].maxLength == 100)
        #expect(type.information[0].minLength == 1)
        #expect(type.information[0].enums == ["Water", "Gas"])
        let flag = try decode(DocumentType.self, #"{"document_type_id":"t","proof_required":true}"#)
        #expect(flag.proofRequired == .bool(true))
    }

    @Test("list meta: next as null, empty string, missing or a relative URL")
    func pageMeta() throws {
        for next in [#""next":null"#, #""next":"""#, #""limit":20"#] {
            let page = try decode(Page<EndUser>.self, #"{"api_id":"a","meta":{"offset":0,\#(next)},"objects":[]}"#)
            #expect(page.meta.next == nil)
        }
        let more = try decode(
            Page<EndUser>.self,
            #"{"meta":{"limit":2,"offset":0,"total_count":5,"next":"/v1/Account/MA/EndUser/?limit=2&offset=2"},"objects":[{"end_user_id":"u"}]}"#
        )
        #expect(more.meta.next == "/v1/Account/MA/EndUser/?limit=2&offset=2")
        #expect(more.meta.totalCount == 5)
        #expect(more.apiId == nil)
    }
}

@Suite("Error bodies")
struct ErrorBodyTests {
    private func error(_ status: Int, _ body: String, headers: [(String, String)] = []) -> PlivoError {
        PlivoError.from(
            response: HTTPResponse(status: status, headers: HTTPHeaders(headers), body: Data(body.utf8)),
            request: "GET /x/"
        )
    }

    @Test("error as a string, with api_id")
    func stringError() {
        let e = error(400, #"{"api_id":"abc","error":"limit can't be more than 20"}"#)
        #expect(e.status == 400)
        #expect(e.apiId == "abc")
        #expect(e.message == "limit can't be more than 20")
        #expect(!e.isRetryable)
    }

    @Test("error as an object")
    func objectError() {
        let e = error(422, #"{"api_id":"abc","error":{"error":"business_name not provided","code":7}}"#)
        #expect(e.message == "business_name not provided")
    }

    @Test("401 without api_id")
    func unauthorised() {
        let e = error(401, #"{"error":"authentication credentials were not provided"}"#)
        #expect(e.apiId == nil)
        #expect(e.message == "authentication credentials were not provided")
    }

    @Test("only Plivo's own 404 says not found: JSON content type and api_id or error")
    func plivoNotFound() {
        let json = [("Content-Type", "application/json; charset=utf-8")]
        let plivo = error(404, #"{"api_id":"abc","error":"not found"}"#, headers: json)
        #expect(plivo.isNotFound)
        #expect(!plivo.isRetryable)
        #expect(error(404, #"{"error":"not found"}"#, headers: json).isNotFound)
    }

    @Test(
        "a 404 that is not Plivo's is a retried transport failure",
        arguments: [
            (
                "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>",
                "text/html"
            ),
            (#"{"api_id":"abc","error":"not found"}"#, "text/html"),
            (#"{"api_id":"abc","error":"not found"}"#, ""),
            ("", "application/json"),
            ("{}", "application/json"),
            (#"{"message":"no route"}"#, "application/json"),
            ("not found", "text/plain"),
        ]
    )
    func foreignNotFound(body: String, contentType: String) {
        let e = error(404, body, headers: contentType.isEmpty ? [] : [("Content-Type", contentType)])
        #expect(!e.isNotFound)
        #expect(e.isRetryable)
        #expect(e.kind == .transport)
        #expect(e.description.contains("not Plivo's"))
    }

    @Test("a body that is not JSON becomes the message")
    func htmlBody() {
        let e = error(502, "<html><body>Bad Gateway</body></html>")
        #expect(e.message.contains("Bad Gateway"))
        #expect(e.isRetryable)
    }

    @Test("429 carries Retry-After")
    func rateLimited() {
        let e = error(429, #"{"api_id":"r","error":"Too many requests"}"#, headers: [("Retry-After", "3")])
        #expect(e.retryAfter == .seconds(3))
        #expect(e.isRetryable)
        #expect(e.description.contains("retry after"))
    }
}
