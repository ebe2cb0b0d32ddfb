import CurlHTTP
import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchTesting

/// A sandbox on loopback and a client for it; stops the sandbox when released.
final class SandboxFixture: Sendable {
    static let authId = "MAFIXTURE00000000000"
    let sandbox: SandboxServer
    let client: PlivoClient
    let transport: CurlTransport
    let baseURL: String

    init(_ configure: (inout SandboxServer.Configuration) -> Void = { _ in }) async throws {
        var configuration = SandboxServer.Configuration(authId: Self.authId, authToken: "fixture-token")
        configure(&configuration)
        sandbox = try await SandboxServer.start(configuration)
        baseURL = await sandbox.baseURL
        transport = CurlTransport(configuration: .init(timeout: .seconds(10)))
        client = PlivoClient(
            configuration: .init(authId: Self.authId, authToken: "fixture-token", baseURL: baseURL),
            transport: transport
        )
    }

    deinit { sandbox.stop() }

    /// POSTs JSON to a control endpoint and returns the decoded answer.
    @discardableResult
    func control(_ path: String, _ body: String = "{}") async throws -> [String: Any] {
        let response = try await transport.send(
            HTTPRequest(
                method: .post,
                url: baseURL + path,
                body: .data(Data(body.utf8), contentType: "application/json")
            )
        )
        #expect(response.isSuccess, "control \(path) answered \(response.status)")
        return (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
    }

    func stats() async throws -> [String: Any] {
        let response = try await transport.send(HTTPRequest(url: baseURL + "/_sandbox/stats"))
        return try JSONSerialization.jsonObject(with: response.body) as? [String: Any] ?? [:]
    }

    func requestCount(_ key: String) async throws -> Int {
        ((try await stats())["requests"] as? [String: Int])?[key] ?? 0
    }
}

@Suite("PlivoClient against the sandbox", .timeLimit(.minutes(1)))
struct ClientTests {
    @Test("the catalogue: document types list, get, and both requirement lookups")
    func catalogue() async throws {
        let f = try await SandboxFixture()
        let types = try await f.client.documentTypes.all().collect()
        #expect(types.count >= 4)
        let bill = try #require(types.first { $0.documentName == "Utility Bill" })
        #expect(bill.information.contains { $0.fieldName == "type_of_utility" && $0.enums.contains("Electricity") })
        let fetched = try await f.client.documentTypes.get(bill.id)
        #expect(fetched == bill)

        let byCountry = try await f.client.requirements.lookup(
            countryISO2: "FR",
            numberType: "mobile",
            endUserType: "business"
        )
        #expect(byCountry.countryISO2 == "FR")
        #expect(byCountry.numberType == "mobile")
        #expect(!byCountry.acceptableDocumentTypes.isEmpty)
        let byNumber = try await f.client.requirements.lookup(phoneNumber: "+33612345678", endUserType: "business")
        #expect(byNumber.id == byCountry.id)
        let byId = try await f.client.requirements.get(byCountry.id)
        #expect(byId == byCountry)
    }

    @Test("end users: create, get, list with filters, update, delete")
    func endUsers() async throws {
        let f = try await SandboxFixture()
        let acme = try await f.client.endUsers.create(name: "Acme SAS", endUserType: "business")
        let jane = try await f.client.endUsers.create(name: "Jane", lastName: "Doe", endUserType: "Individual")
        #expect(acme.lastName == nil)
        #expect(jane.endUserType == "Individual")
        #expect(try await f.client.endUsers.get(jane.id).lastName == "Doe")

        let businesses = try await f.client.endUsers.all(filter: .init(endUserType: "business")).collect()
        #expect(businesses.map(\.id) == [acme.id])
        let all = try await f.client.endUsers.list()
        #expect(all.objects.map(\.id) == [jane.id, acme.id], "newest first")

        let update = try await f.client.endUsers.update(acme.id, name: "Acme SA")
        #expect(update.message == "changed")
        #expect(try await f.client.endUsers.get(acme.id).name == "Acme SA")

        try await f.client.endUsers.delete(acme.id)
        let error = await #expect(throws: PlivoError.self) { try await f.client.endUsers.get(acme.id) }
        #expect(error?.isNotFound == true)
    }

    @Test("documents: multipart create with a proof file, get, list, update, delete")
    func documents() async throws {
        let f = try await SandboxFixture()
        let user = try await f.client.endUsers.create(name: "Acme SAS", endUserType: "business")
        let types = try await f.client.documentTypes.all().collect()
        let registration = try #require(types.first { $0.documentName == "Registration Certificate" })
        let pdf = Data("%PDF-1.4 proof".utf8)

        // The type requires business_name: Plivo refuses the upload without it.
        let refused = await #expect(throws: PlivoError.self) {
            try await f.client.documents.create(endUserId: user.id, documentTypeId: registration.id, alias: "kbis")
        }
        #expect(refused?.status == 400)
        #expect(refused?.message == "business_name not provided")

        let doc = try await f.client.documents.create(
            endUserId: user.id,
            documentTypeId: registration.id,
            alias: "kbis",
            metaInformation: ["business_name": "Acme SAS"],
            file: .init(filename: "kbis.pdf", data: pdf, contentType: "application/pdf")
        )
        #expect(doc.fileName == "kbis.pdf")
        #expect(doc.metaInformation == ["business_name": "Acme SAS"])

        let got = try await f.client.documents.get(doc.id)
        #expect(got.id == doc.id)
        #expect(got.fileName == "kbis.pdf")
        let listed = try await f.client.documents.all(filter: .init(endUserId: user.id)).collect()
        #expect(listed.map(\.id) == [doc.id])
        #expect(listed[0].fileName == "kbis.pdf", "list form uses `file`, decoded into the same field")

        let changed = try await f.client.documents.update(
            doc.id,
            alias: "kbis 2026",
            metaInformation: ["unique_identification_number": "RCS 123"]
        )
        #expect(changed.message == "changed")
        let after = try await f.client.documents.get(doc.id)
        #expect(after.alias == "kbis 2026")
        #expect(after.metaInformation["unique_identification_number"] == "RCS 123")

        try await f.client.documents.delete(doc.id)
        #expect(try await f.client.documents.list(filter: .init(endUserId: user.id)).objects.isEmpty)
    }

    @Test("applications: create both ways, get, list filters, update, submit, delete")
    func applications() async throws {
        let f = try await SandboxFixture()
        let user = try await f.client.endUsers.create(name: "Acme SAS", endUserType: "business")
        let requirement = try await f.client.requirements.lookup(
            countryISO2: "FR",
            numberType: "mobile",
            endUserType: "business"
        )
        let bill = try #require(
            try await f.client.documentTypes.all().collect().first { $0.documentName == "Utility Bill" }
        )
        let doc = try await f.client.documents.create(
            endUserId: user.id,
            documentTypeId: bill.id,
            alias: "bill",
            metaInformation: ["type_of_utility": "Electricity"]
        )

        let byId = try await f.client.applications.create(
            alias: "acme-fr-mobile",
            endUserId: user.id,
            documentIds: [doc.id],
            requirement: .id(requirement.id)
        )
        #expect(byId.status == .draft)
        #expect(byId.documents.map(\.documentId) == [doc.id])
        let byLookup = try await f.client.applications.create(
            alias: "acme-de-local",
            endUserId: user.id,
            documentIds: [],
            requirement: .lookup(countryISO2: "DE", numberType: "local", endUserType: "Business")
        )
        #expect(byLookup.countryISO2 == "DE")
        #expect(byLookup.numberType == "local")

        #expect(try await f.client.applications.get(byId.id) == byId)
        let fr = try await f.client.applications.all(filter: .init(countryISO2: "FR")).collect()
        #expect(fr.map(\.id) == [byId.id])
        let byAlias = try await f.client.applications.list(filter: .init(alias: "acme-de-local"))
        #expect(byAlias.objects.map(\.id) == [byLookup.id])
        let forUser = try await f.client.applications.list(
            filter: .init(endUserType: "business", numberType: "mobile", endUserId: user.id)
        )
        #expect(forUser.objects.map(\.id) == [byId.id])

        #expect(try await f.client.applications.update(byId.id, documentIds: []).message == "changed")
        #expect(try await f.client.applications.get(byId.id).documents.isEmpty)

        let submitted = try await f.client.applications.submit(byId.id)
        #expect(submitted.status == .submitted)
        let drafts = try await f.client.applications.list(filter: .init(status: .draft)).objects
        #expect(drafts.map(\.id) == [byLookup.id])

        // Submitted applications cannot be changed or submitted again.
        let locked = await #expect(throws: PlivoError.self) {
            try await f.client.applications.update(byId.id, documentIds: [doc.id])
        }
        #expect(locked?.status == 400)
        let again = await #expect(throws: PlivoError.self) { try await f.client.applications.submit(byId.id) }
        #expect(again?.message.contains("Current status: 'submitted'") == true)

        try await f.client.applications.delete(byLookup.id)
        let gone = await #expect(throws: PlivoError.self) { try await f.client.applications.get(byLookup.id) }
        #expect(gone?.isNotFound == true)
    }

    @Test("1,000 seeded applications: 50 pages, each application seen exactly once")
    func pagingAcrossManyPages() async throws {
        let f = try await SandboxFixture { $0.rateLimit = 0 }
        let seeded = try await f.control("/_sandbox/seed", #"{"count": 1000}"#)
        let ids = try #require(seeded["application_ids"] as? [String])
        #expect(ids.count == 1000)

        let first = try await f.client.applications.list()
        #expect(first.meta.totalCount == 1000)
        #expect(first.objects.count == 20)
        let listed = try await f.client.applications.all().collect()
        #expect(listed.count == 1000)
        #expect(Set(listed.map(\.id)) == Set(ids))
        #expect(try await f.requestCount("GET /ComplianceApplication/") == 51, "one page to look, then 50")

        let dates = listed.compactMap { $0.createdAt?.date }
        #expect(dates.count == 1000)
        #expect(dates == dates.sorted(by: >), "newest first")
    }

    @Test("limit outside 1…20 is refused before anything is sent", arguments: [0, 21, 100, -1])
    func limitChecked(limit: Int) async throws {
        let f = try await SandboxFixture()
        let error = await #expect(throws: PlivoError.self) { try await f.client.applications.list(limit: limit) }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.message.contains("between 1 and 20") == true)
        #expect(try await f.requestCount("GET /ComplianceApplication/") == 0)
    }

    @Test("wrong credentials give a 401 without api_id, and the token never shows in the error")
    func wrongToken() async throws {
        let f = try await SandboxFixture()
        let client = PlivoClient(
            configuration: .init(authId: SandboxFixture.authId, authToken: "not-the-token-s3cr3t", baseURL: f.baseURL),
            transport: f.transport
        )
        let error = await #expect(throws: PlivoError.self) { try await client.applications.list() }
        #expect(error?.status == 401)
        #expect(error?.apiId == nil)
        #expect(error?.description.contains("s3cr3t") == false)
    }

    @Test("a 429 with Retry-After reaches the caller as a retryable PlivoError")
    func rateLimitReachesCaller() async throws {
        let f = try await SandboxFixture()
        try await f.control("/_sandbox/faults", #"{"rate_429": 1, "retry_after_s": 4}"#)
        let error = await #expect(throws: PlivoError.self) { try await f.client.applications.list() }
        #expect(error?.status == 429)
        #expect(error?.retryAfter == .seconds(4))
        #expect(error?.isRetryable == true)
    }

    @Test("submit sends {} as JSON")
    func submitBody() async throws {
        let f = try await SandboxFixture()
        let user = try await f.client.endUsers.create(name: "A", endUserType: "business")
        let app = try await f.client.applications.create(
            alias: "a",
            endUserId: user.id,
            documentIds: [],
            requirement: .lookup(countryISO2: "GB", numberType: "local", endUserType: "business")
        )
        // The sandbox refuses a bodiless submit that is not declared JSON, as Plivo does; the client's passes.
        let raw = try await f.transport.send(
            HTTPRequest(
                method: .post,
                url: f.baseURL + "/v1/Account/\(SandboxFixture.authId)/ComplianceApplication/\(app.id)/Submit/",
                credentials: BasicCredentials(username: SandboxFixture.authId, password: "fixture-token")
            )
        )
        #expect(raw.status == 400)
        #expect(try await f.client.applications.submit(app.id).status == .submitted)
    }
}

@Suite("PlivoClient over a scripted transport")
struct ScriptedClientTests {
    @Test(
        "credentials go as Basic auth, never in the URL; a proxy's HTML 404 is a transport error, Plivo's is not found"
    )
    func requestsAndErrors() async throws {
        let transport = ScriptedTransport { request in
            if request.url.contains("/proxied/") {
                return HTTPResponse(
                    status: 404,
                    headers: HTTPHeaders([("Content-Type", "text/html")]),
                    body: Data("<html>nope</html>".utf8)
                )
            }
            return ScriptedTransport.json(
                404,
                #"{"api_id":"a1","error":"not found"}"#,
                headers: [("Retry-After", "inf")]
            )
        }
        let client = PlivoClient(
            configuration: .init(authId: "MASCRIPT", authToken: "s3cr3t-token", baseURL: "https://api.example"),
            transport: transport
        )
        let gone = await #expect(throws: PlivoError.self) { try await client.applications.get("gone") }
        #expect(gone?.isNotFound == true)
        #expect(gone?.retryAfter == nil, "Retry-After: inf is ignored")
        let proxied = await #expect(throws: PlivoError.self) { try await client.applications.get("proxied") }
        #expect(proxied?.kind == .transport)
        #expect(proxied?.isRetryable == true)
        let sent = transport.requests
        #expect(sent.count == 2)
        #expect(sent.allSatisfy { $0.credentials == BasicCredentials(username: "MASCRIPT", password: "s3cr3t-token") })
        #expect(sent.allSatisfy { !$0.url.contains("s3cr3t") })
        #expect(sent.first?.url == "https://api.example/v1/Account/MASCRIPT/ComplianceApplication/gone/")
    }
}
