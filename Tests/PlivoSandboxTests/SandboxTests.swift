import CurlHTTP
import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing

private let authId = "MASANDBOX00000000000"
private let token = "sandbox-token"

/// Raw HTTP against a sandbox, for shapes the typed client never sends.
private struct Raw {
    let base: String
    let transport = CurlTransport(configuration: .init(timeout: .seconds(5)))

    var client: PlivoClient {
        PlivoClient(configuration: .init(authId: authId, authToken: token, baseURL: base), transport: transport)
    }

    func send(
        _ method: HTTPMethod,
        _ path: String,
        json: String? = nil,
        multipart: [MultipartPart]? = nil,
        auth: BasicCredentials? = BasicCredentials(username: authId, password: token),
        contentType: String = "application/json"
    ) async throws -> (status: Int, json: [String: Any], headers: HTTPHeaders) {
        var body = HTTPRequest.Body.none
        if let json { body = .data(Data(json.utf8), contentType: contentType) }
        if let multipart { body = .multipart(multipart) }
        let url = path.hasPrefix("/_") ? base + path : base + "/v1/Account/\(authId)" + path
        let response = try await transport.send(HTTPRequest(method: method, url: url, body: body, credentials: auth))
        let object = (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
        return (response.status, object, response.headers)
    }

    static func start(
        _ configure: (inout SandboxServer.Configuration) -> Void = { _ in }
    ) async throws -> (SandboxServer, Raw) {
        var configuration = SandboxServer.Configuration(authId: authId, authToken: token)
        configure(&configuration)
        let sandbox = try await SandboxServer.start(configuration)
        return (sandbox, Raw(base: await sandbox.baseURL))
    }
}

@Suite("Sandbox behaves like Plivo", .timeLimit(.minutes(1)))
struct SandboxTests {
    @Test("Basic auth: missing and wrong credentials get 401 bodies without api_id")
    func authentication() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        let missing = try await raw.send(.get, "/ComplianceApplication/", auth: nil)
        #expect(missing.status == 401)
        #expect(missing.json["error"] as? String == "authentication credentials were not provided")
        #expect(missing.json["api_id"] == nil)
        let wrong = try await raw.send(
            .get,
            "/ComplianceApplication/",
            auth: BasicCredentials(username: authId, password: "nope")
        )
        #expect(wrong.status == 401)
        let otherAccount = try await raw.transport.send(
            HTTPRequest(
                url: raw.base + "/v1/Account/MAOTHER0000000000000/ComplianceApplication/",
                credentials: BasicCredentials(username: authId, password: token)
            )
        )
        #expect(otherAccount.status == 401)
        #expect(try await raw.send(.get, "/ComplianceApplication/").status == 200)
    }

    @Test("trailing slash is canonical and its absence tolerated")
    func trailingSlash() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        #expect(try await raw.send(.get, "/ComplianceDocumentType/").status == 200)
        #expect(try await raw.send(.get, "/ComplianceDocumentType").status == 200)
        let page = try await raw.send(.get, "/ComplianceDocumentType/?limit=2")
        let meta = try #require(page.json["meta"] as? [String: Any])
        #expect(
            (meta["next"] as? String)?.hasPrefix("/v1/Account/\(authId)/ComplianceDocumentType/?limit=2&offset=2")
                == true
        )
        #expect(meta["previous"] is NSNull)
    }

    @Test(
        "limit above 20 or below 1, or a negative offset, gets a 400",
        arguments: ["limit=21", "limit=0", "limit=abc", "offset=-1"]
    )
    func listLimits(query: String) async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        for resource in ["ComplianceApplication", "EndUser", "ComplianceDocument", "ComplianceDocumentType"] {
            let reply = try await raw.send(.get, "/\(resource)/?\(query)")
            #expect(reply.status == 400, "\(resource)?\(query)")
            #expect(reply.json["api_id"] is String)
        }
    }

    @Test("past the account limit it answers 429 and counts it")
    func rateLimit() async throws {
        let (sandbox, raw) = try await Raw.start {
            $0.rateLimit = 5
            $0.rateWindow = .seconds(60)
        }
        defer { sandbox.stop() }
        var statuses: [Int] = []
        for _ in 0..<8 { statuses.append(try await raw.send(.get, "/ComplianceDocumentType/").status) }
        #expect(statuses == [200, 200, 200, 200, 200, 429, 429, 429])
        let stats = try await raw.send(.get, "/_sandbox/stats", auth: nil)
        #expect(stats.json["rate_limited"] as? Int == 3)
        #expect((stats.json["requests"] as? [String: Int])?["GET /ComplianceDocumentType/"] == 8)
    }

    @Test("seed makes the requested status mix and returns the ids")
    func seed() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        let seeded = try await raw.send(
            .post,
            "/_sandbox/seed",
            json: #"{"account":"\#(authId)","count":50,"statuses":{"draft":0.2,"accepted":0.8}}"#,
            auth: nil
        )
        #expect(seeded.status == 201)
        #expect((seeded.json["application_ids"] as? [String])?.count == 50)
        #expect(((seeded.json["end_user_ids"] as? [String])?.count ?? 0) >= 1)
        #expect(((seeded.json["document_ids"] as? [String])?.count ?? 0) >= 1)
        let drafts = try await raw.client.applications.all(filter: .init(status: .draft)).collect()
        let accepted = try await raw.client.applications.all(filter: .init(status: "ACCEPTED")).collect()
        #expect(drafts.count == 10)
        #expect(accepted.count == 40)
        let unknownAccount = try await raw.send(
            .post,
            "/_sandbox/seed",
            json: #"{"account":"MANOPE","count":1}"#,
            auth: nil
        )
        #expect(unknownAccount.status == 400)
    }

    @Test("review on command sets any status, with a reason")
    func reviewOnCommand() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        let ids = try #require(
            try await raw.send(.post, "/_sandbox/seed", json: #"{"count":2,"statuses":{"submitted":1}}"#, auth: nil)
                .json["application_ids"] as? [String]
        )
        let rejected = try await raw.send(
            .post,
            "/_sandbox/applications/\(ids[0])/review",
            json: #"{"status":"rejected","rejection_reason":"Document is illegible"}"#,
            auth: nil
        )
        #expect(rejected.status == 200)
        let app = try await raw.client.applications.get(ids[0])
        #expect(app.status == .rejected)
        #expect(app.rejectionReason == "Document is illegible")
        _ = try await raw.send(
            .post,
            "/_sandbox/applications/\(ids[1])/review",
            json: #"{"status":"suspended"}"#,
            auth: nil
        )
        #expect(try await raw.client.applications.get(ids[1]).status.rawValue == "suspended")
        #expect(
            try await raw.send(.post, "/_sandbox/applications/nope/review", json: #"{"status":"accepted"}"#, auth: nil)
                .status == 404
        )
        // A rejected application can be corrected and submitted again.
        #expect(try await raw.client.applications.submit(ids[0]).status == .submitted)
        #expect(try await raw.client.applications.get(ids[0]).rejectionReason == nil)
    }

    @Test("the reviewer decides submitted applications after its delay")
    func scheduledReviewer() async throws {
        let (sandbox, raw) = try await Raw.start {
            $0.reviewAfter = .milliseconds(200)
            $0.acceptRatio = 1
        }
        defer { sandbox.stop() }
        let ids = try #require(
            try await raw.send(.post, "/_sandbox/seed", json: #"{"count":3,"statuses":{"submitted":1}}"#, auth: nil)
                .json["application_ids"] as? [String]
        )
        var statuses: Set<ApplicationStatus> = []
        for _ in 0..<100 {
            statuses = Set(try await raw.client.applications.all().collect().map(\.status))
            if statuses == [.accepted] { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(statuses == [.accepted])
        #expect(ids.count == 3)

        // accept_ratio 0 rejects, with a reason.
        _ = try await raw.send(.post, "/_sandbox/reviewer", json: #"{"accept_ratio":0}"#, auth: nil)
        _ = try await raw.send(
            .post,
            "/_sandbox/applications/\(ids[0])/review",
            json: #"{"status":"submitted"}"#,
            auth: nil
        )
        var app = try await raw.client.applications.get(ids[0])
        for _ in 0..<100 where app.status == .submitted {
            try await Task.sleep(for: .milliseconds(50))
            app = try await raw.client.applications.get(ids[0])
        }
        #expect(app.status == .rejected)
        #expect(app.rejectionReason?.isEmpty == false)
    }

    @Test("it accepts what real SDKs send: nulls, empty strings, capitalised types, {\"id\"} submit bodies")
    func toleratesSDKQuirks() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        // Python sends null for unset arguments; Ruby capitalises end_user_type.
        let user = try await raw.send(
            .post,
            "/EndUser/",
            json: #"{"name":"Acme","last_name":null,"end_user_type":"Business"}"#
        )
        #expect(user.status == 201)
        #expect(user.json["message"] as? String == "created")
        #expect(user.json["end_user_type"] as? String == "Business")
        let userId = try #require(user.json["end_user_id"] as? String)
        // PHP adds app_id and compliance_requirement_id as null.
        let app = try await raw.send(
            .post,
            "/ComplianceApplication/",
            json: """
                {"alias":"a","end_user_id":"\(userId)","document_ids":[],"country_iso2":"FR","number_type":"mobile",
                 "end_user_type":"business","app_id":null,"compliance_requirement_id":null}
                """
        )
        #expect(app.status == 201)
        #expect(app.json["status"] as? String == "draft")
        let appId = try #require(app.json["compliance_application_id"] as? String)
        // Go and Ruby put the id in the update body; Java submits {"id": …}.
        let update = try await raw.send(
            .post,
            "/ComplianceApplication/\(appId)/",
            json: #"{"document_ids":[],"compliance_application_id":"\#(appId)"}"#
        )
        #expect(update.status == 202)
        #expect(update.json["message"] as? String == "changed")
        let submit = try await raw.send(.post, "/ComplianceApplication/\(appId)/Submit", json: #"{"id":"\#(appId)"}"#)
        #expect(submit.status == 200)
        #expect(submit.json["status"] as? String == "submitted")
        #expect(submit.json["message"] == nil)
        // Go's list sends `country` for `country_iso2`.
        let byCountry = try await raw.send(.get, "/ComplianceApplication/?country=FR")
        #expect((byCountry.json["meta"] as? [String: Any])?["total_count"] as? Int == 1)
    }

    @Test("documents: empty file part, PHP's api_id part, Go's nameless part, and the list/get key split")
    func documentQuirks() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        let userId = try await raw.client.endUsers.create(name: "A", endUserType: "business").id
        let typeId = try #require(
            try await raw.client.documentTypes.all().collect().first { $0.documentName == "Tax Certificate" }?.id
        )
        let created = try await raw.send(
            .post,
            "/ComplianceDocument/",
            multipart: [
                .field("end_user_id", userId), .field("document_type_id", typeId), .field("alias", "tax"),
                .field("tax_code", "150"), .field("api_id", ""),
                .field("", "<plivo.CreateComplianceDocumentParams Value>"),
                .field("first_name", ""), .file("file", filename: "file", data: Data()),
            ]
        )
        #expect(created.status == 201)
        #expect(created.json["message"] as? String == "created")
        #expect(created.json["meta_information"] as? [String: String] == ["tax_code": "150"])
        #expect(created.json["file_name"] == nil, "an empty file part means no file")
        let docId = try #require(created.json["document_id"] as? String)
        let got = try await raw.send(.get, "/ComplianceDocument/\(docId)/")
        #expect(got.json["document_id"] as? String == docId)
        #expect(got.json["compliance_document_id"] == nil)
        let listed = try await raw.send(.get, "/ComplianceDocument/")
        let object = try #require((listed.json["objects"] as? [[String: Any]])?.first)
        #expect(object["compliance_document_id"] as? String == docId)
        #expect(object["document_id"] == nil)
        #expect((object["created_at"] as? String)?.hasSuffix("+0000 UTC") == true)
        // Deletes answer 204 with no body.
        #expect(try await raw.send(.delete, "/ComplianceDocument/\(docId)/").status == 204)
        #expect(try await raw.send(.delete, "/ComplianceDocument/\(docId)/").status == 404)
    }

    @Test("requirement lookup returns one object; bad lookups get 400 or 404")
    func requirementLookup() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        let one = try await raw.send(
            .get,
            "/ComplianceRequirement/?country_iso2=ES&number_type=local&end_user_type=Individual&operation_type=buy_number"
        )
        #expect(one.status == 200)
        #expect(one.json["objects"] == nil)
        #expect(one.json["compliance_requirement_id"] is String)
        #expect(try await raw.send(.get, "/ComplianceRequirement/?country_iso2=ES").status == 400)
        #expect(
            try await raw.send(.get, "/ComplianceRequirement/?country_iso2=ZZ&number_type=local&end_user_type=business")
                .status == 404
        )
    }

    @Test("fault: 500s are answered and counted as requests")
    func fault500() async throws {
        let (sandbox, raw) = try await Raw.start { $0.faults.rate500 = 1 }
        defer { sandbox.stop() }
        let error = await #expect(throws: PlivoError.self) { try await raw.client.applications.list() }
        #expect(error?.status == 500)
        #expect(error?.isRetryable == true)
        _ = try await raw.send(.post, "/_sandbox/faults", json: "{}", auth: nil)
        #expect(try await raw.client.applications.list().objects.isEmpty)
    }

    @Test("fault: 429 with and without Retry-After")
    func fault429() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        _ = try await raw.send(.post, "/_sandbox/faults", json: #"{"rate_429":1}"#, auth: nil)
        let bare = try await raw.send(.get, "/ComplianceApplication/")
        #expect(bare.status == 429)
        #expect(bare.headers["Retry-After"] == nil)
        _ = try await raw.send(.post, "/_sandbox/faults", json: #"{"rate_429":1,"retry_after_s":2}"#, auth: nil)
        #expect(try await raw.send(.get, "/ComplianceApplication/").headers["Retry-After"] == "2")
    }

    @Test("fault: a hostile Retry-After is sent verbatim")
    func faultHostileRetryAfter() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        for value in ["inf", "1e300", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            _ = try await raw.send(
                .post,
                "/_sandbox/faults",
                json: #"{"rate_429":1,"retry_after":"\#(value)"}"#,
                auth: nil
            )
            #expect(try await raw.send(.get, "/ComplianceApplication/").headers["Retry-After"] == value)
        }
    }

    @Test("fault: a middlebox's HTML 404 on single-object GETs, never on lists")
    func faultHTML404() async throws {
        let (sandbox, raw) = try await Raw.start { $0.faults.html404Rate = 1 }
        defer { sandbox.stop() }
        await sandbox.seed(count: 1)
        let list = try await raw.send(.get, "/ComplianceApplication/")
        #expect(list.status == 200)
        let id = try #require(
            ((list.json["objects"] as? [[String: Any]])?.first?["compliance_application_id"]) as? String
        )
        let got = try await raw.send(.get, "/ComplianceApplication/\(id)/")
        #expect(got.status == 404)
        #expect(got.headers["Content-Type"] == "text/html")
        let error = await #expect(throws: PlivoError.self) { try await raw.client.applications.get(id) }
        #expect(error?.isNotFound == false, "the client does not take it for Plivo's 404")
    }

    @Test("fault: application objects with a field nulled or removed, hidden from pages, or vanished for a while")
    func faultObjects() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        await sandbox.seed(count: 20)
        _ = try await raw.send(.post, "/_sandbox/faults", json: #"{"null_field_rate":1}"#, auth: nil)
        let damaged = try await raw.send(.get, "/ComplianceApplication/")
        let objects = try #require(damaged.json["objects"] as? [[String: Any]])
        #expect(objects.count == 20)
        let fields = ["compliance_application_id", "status", "documents", "alias", "created_at"]
        #expect(
            objects.allSatisfy { object in
                fields.contains { object[$0] == nil || object[$0] is NSNull }
                    || ((object["documents"] as? [[String: Any]])?.contains {
                        $0["document_id"] == nil || $0["document_id"] is NSNull
                    } ?? false)
                    || (object["status"] as? String) == ""
            },
            "every object has one field damaged"
        )

        _ = try await raw.send(.post, "/_sandbox/faults", json: #"{"hide_rate":1}"#, auth: nil)
        let hidden = try await raw.send(.get, "/ComplianceApplication/")
        #expect((hidden.json["objects"] as? [Any])?.isEmpty == true)
        #expect((hidden.json["meta"] as? [String: Any])?["total_count"] as? Int == 20, "drift: the count still says 20")

        _ = try await raw.send(.post, "/_sandbox/faults", json: "{}", auth: nil)
        let id = try #require(
            ((try await raw.send(.get, "/ComplianceApplication/").json["objects"] as? [[String: Any]])?.first?[
                "compliance_application_id"
            ]) as? String
        )
        #expect(
            try await raw.send(.post, "/_sandbox/applications/\(id)/vanish", json: #"{"for_s": 60}"#, auth: nil).status
                == 200
        )
        let gone = try await raw.send(.get, "/ComplianceApplication/\(id)/")
        #expect(gone.status == 404)
        #expect(gone.json["api_id"] != nil, "Plivo's own 404")
        #expect((try await raw.send(.get, "/ComplianceApplication/").json["objects"] as? [Any])?.count == 19)
        // Its time is up (set to zero here rather than waited for): back, unchanged.
        #expect(
            try await raw.send(.post, "/_sandbox/applications/\(id)/vanish", json: #"{"for_s": 0}"#, auth: nil).status
                == 200
        )
        #expect(try await raw.send(.get, "/ComplianceApplication/\(id)/").status == 200, "and back")
        #expect(try await raw.send(.post, "/_sandbox/applications/nope/vanish", json: "{}", auth: nil).status == 404)
    }

    @Test("query strings are form-decoded: + is a space, %2B a plus")
    func plusIsSpace() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        _ = try await raw.client.endUsers.create(name: "Acme SA", endUserType: "business")
        _ = try await raw.client.endUsers.create(name: "A+B", endUserType: "business")
        let spaced = try await raw.send(.get, "/EndUser/?name=Acme+SA")
        #expect((spaced.json["objects"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Acme SA"])
        let plus = try await raw.send(.get, "/EndUser/?name=A%2BB")
        #expect((plus.json["objects"] as? [[String: Any]])?.map { $0["name"] as? String } == ["A+B"])
        // The typed client's own encoding still finds both.
        #expect(try await raw.client.endUsers.list(filter: .init(name: "Acme SA")).objects.count == 1)
    }

    @Test("fault: malformed JSON is a malformed-response error")
    func faultMalformed() async throws {
        let (sandbox, raw) = try await Raw.start { $0.faults.malformedRate = 1 }
        defer { sandbox.stop() }
        let error = await #expect(throws: PlivoError.self) { try await raw.client.applications.list() }
        #expect(error?.kind == .malformedResponse)
        #expect(error?.isRetryable == true)
    }

    @Test("fault: a truncated body and a dropped connection are transport errors")
    func faultTruncatedAndDropped() async throws {
        let (sandbox, raw) = try await Raw.start { $0.faults.truncateRate = 1 }
        defer { sandbox.stop() }
        let truncated = await #expect(throws: PlivoError.self) { try await raw.client.applications.list() }
        #expect(truncated?.kind == .transport)
        #expect(truncated?.transportError?.code == 18, "CURLE_PARTIAL_FILE")

        _ = try await raw.send(.post, "/_sandbox/faults", json: #"{"drop_rate":1}"#, auth: nil)
        let dropped = await #expect(throws: PlivoError.self) { try await raw.client.applications.list() }
        #expect(dropped?.kind == .transport)
        #expect(dropped?.transportError?.code == 52, "CURLE_GOT_NOTHING")
        #expect(dropped?.isRetryable == true)
    }

    @Test("fault: latency is added before the answer")
    func faultLatency() async throws {
        let (sandbox, raw) = try await Raw.start { $0.faults.latencyMs = 2000 }
        defer { sandbox.stop() }
        let impatient = PlivoClient(
            configuration: .init(authId: authId, authToken: token, baseURL: raw.base, timeout: .milliseconds(200)),
            transport: raw.transport
        )
        let error = await #expect(throws: PlivoError.self) { try await impatient.applications.list() }
        #expect(error?.transportError?.kind == .timeout)
    }

    @Test("reset clears data, faults and counters")
    func reset() async throws {
        let (sandbox, raw) = try await Raw.start()
        defer { sandbox.stop() }
        _ = try await raw.send(.post, "/_sandbox/seed", json: #"{"count":5}"#, auth: nil)
        _ = try await raw.send(.post, "/_sandbox/faults", json: #"{"latency_ms":1}"#, auth: nil)
        #expect(try await raw.client.applications.list().objects.count == 5)
        _ = try await raw.send(.post, "/_sandbox/reset", json: "{}", auth: nil)
        #expect(try await raw.client.applications.list().objects.isEmpty)
        let faults = try await raw.send(.get, "/_sandbox/faults", auth: nil)
        #expect(faults.json["latency_ms"] as? Int == 0)
        let stats = try await raw.send(.get, "/_sandbox/stats", auth: nil)
        #expect((stats.json["requests"] as? [String: Int])?["GET /ComplianceApplication/"] == 1)
    }
}
