import CurlHTTP
import FlyingFox
import FlyingSocks
import Foundation
import Synchronization
import PlivoSandbox
import Testing

/// A FlyingFox server on 127.0.0.1:0 with the handlers the transport tests need.
private final class TestServer: Sendable {
    let server: HTTPServer
    let task: Task<Void, any Error>
    /// Requests inside `/held` now, and the most there ever were at once.
    let held = HeldCounter()

    final class HeldCounter: Sendable {
        let state = Mutex((now: 0, peak: 0))
        var peak: Int { state.withLock { $0.peak } }
    }

    init() async throws {
        server = HTTPServer(
            config: .init(address: try sockaddr_in.inet(ip4: "127.0.0.1", port: 0), timeout: 60, logger: .disabled)
        )
        await server.appendRoute("GET /slow") { _ in
            try await Task.sleep(for: .seconds(5))
            return HTTPResponse(statusCode: .ok, body: Data("late".utf8))
        }
        await server.appendRoute("GET /held") { [held] _ in
            held.state.withLock {
                $0.now += 1
                $0.peak = max($0.peak, $0.now)
            }
            try await Task.sleep(for: .milliseconds(30))
            held.state.withLock { $0.now -= 1 }
            return HTTPResponse(statusCode: .ok, body: Data("held".utf8))
        }
        await server.appendRoute("GET /big") { _ in
            HTTPResponse(statusCode: .ok, body: Data(repeating: 0x61, count: 100_000))
        }
        await server.appendRoute("GET /redirect") { _ in
            HTTPResponse(statusCode: .found, headers: [.location: "/big"])
        }
        await server.appendRoute("GET /ftp-redirect") { _ in
            HTTPResponse(statusCode: .movedPermanently, headers: [.location: "ftp://127.0.0.1/file"])
        }
        await server.appendRoute("GET /limited") { _ in
            HTTPResponse(statusCode: .tooManyRequests, headers: [HTTPHeader("Retry-After"): "7"], body: Data("{}".utf8))
        }
        await server.appendRoute("/echo") { request in
            let body = try await request.bodyData
            var headers: [String: String] = [:]
            for (name, value) in request.headers { headers[name.rawValue.lowercased()] = value }
            let reply: [String: String] = [
                "method": request.method.rawValue,
                "content-type": headers["content-type"] ?? "",
                "authorization": headers["authorization"] ?? "",
                "user-agent": headers["user-agent"] ?? "",
                "body": String(decoding: body, as: UTF8.self),
            ]
            return HTTPResponse(statusCode: .ok, body: try JSONEncoder().encode(reply))
        }
        let server = server
        task = Task { try await server.run() }
        try await server.waitUntilListening()
    }

    func url(_ path: String) async -> String {
        guard case .ip4(_, let port)? = await server.listeningAddress else { return "" }
        return "http://127.0.0.1:\(port)\(path)"
    }

    deinit { task.cancel() }
}

@Suite("CurlTransport", .timeLimit(.minutes(1)))
struct CurlTransportTests {
    @Test("100 sequential requests reuse one connection")
    func connectionReuse() async throws {
        let sandbox = try await SandboxServer.start(.init(authId: "MAREUSE0000000000000", authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        let transport = CurlTransport()
        let base = await sandbox.baseURL
        for _ in 0..<100 {
            let response = try await transport.send(
                HTTPRequest(
                    url: base + "/v1/Account/MAREUSE0000000000000/ComplianceDocumentType/",
                    credentials: BasicCredentials(username: "MAREUSE0000000000000", password: "t")
                )
            )
            #expect(response.status == 200)
        }
        let stats = try await transport.send(HTTPRequest(url: base + "/_sandbox/stats"))
        let json = try #require(try JSONSerialization.jsonObject(with: stats.body) as? [String: Any])
        let connections = try #require(json["connections"] as? Int)
        #expect(connections >= 1)
        #expect(connections <= 2)
        let requests = try #require(json["requests"] as? [String: Int])
        #expect(requests["GET /ComplianceDocumentType/"] == 100)
    }

    @Test("a slow answer hits the total timeout and says so")
    func timeout() async throws {
        let server = try await TestServer()
        let transport = CurlTransport(configuration: .init(timeout: .milliseconds(300)))
        let error = await #expect(throws: HTTPTransportError.self) {
            _ = try await transport.send(HTTPRequest(url: await server.url("/slow")))
        }
        #expect(error?.kind == .timeout)
        #expect(error?.code == 28)
        #expect(error?.isRetryable == true)
    }

    @Test("a body over the cap fails instead of growing without bound")
    func bodyCap() async throws {
        let server = try await TestServer()
        let small = CurlTransport(configuration: .init(maxResponseBytes: 10_000))
        let error = await #expect(throws: HTTPTransportError.self) {
            _ = try await small.send(HTTPRequest(url: await server.url("/big")))
        }
        #expect(error?.kind == .bodyTooLarge)
        let large = CurlTransport(configuration: .init(maxResponseBytes: 200_000))
        let response = try await large.send(HTTPRequest(url: await server.url("/big")))
        #expect(response.body.count == 100_000)
    }

    @Test("cancelling the task aborts the transfer")
    func cancellation() async throws {
        let server = try await TestServer()
        let transport = CurlTransport(configuration: .init(timeout: .seconds(30)))
        let url = await server.url("/slow")
        let task = Task { try await transport.send(HTTPRequest(url: url)) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        // The transport is still usable afterwards.
        let after = try await transport.send(HTTPRequest(url: await server.url("/big")))
        #expect(after.status == 200)
    }

    @Test("a 429 is a response, with Retry-After readable by the caller")
    func retryAfter() async throws {
        let server = try await TestServer()
        let response = try await CurlTransport().send(HTTPRequest(url: await server.url("/limited")))
        #expect(response.status == 429)
        #expect(response.isSuccess == false)
        #expect(response.retryAfter() == .seconds(7))
    }

    @Test("Retry-After as an HTTP date")
    func retryAfterDate() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let later = now.addingTimeInterval(120)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let response = HTTPResponse(status: 503, headers: HTTPHeaders([("retry-after", formatter.string(from: later))]))
        #expect(response.retryAfter(now: now) == .seconds(120))
        #expect(HTTPResponse(status: 503, headers: HTTPHeaders([("Retry-After", "soon")])).retryAfter() == nil)
    }

    @Test("redirects are returned, never followed")
    func noRedirects() async throws {
        let server = try await TestServer()
        let response = try await CurlTransport().send(HTTPRequest(url: await server.url("/redirect")))
        #expect(response.status == 302)
        #expect(response.headers["location"] == "/big")
        let ftp = try await CurlTransport().send(HTTPRequest(url: await server.url("/ftp-redirect")))
        #expect(ftp.status == 301)
    }

    @Test("only http and https are allowed")
    func protocolsRestricted() async throws {
        for url in ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/"] {
            let error = await #expect(throws: HTTPTransportError.self) {
                _ = try await CurlTransport().send(HTTPRequest(url: url))
            }
            #expect(error?.kind == .invalidRequest)
        }
    }

    @Test("errors carry curl's code and message but never credentials")
    func errorsRedactCredentials() async throws {
        // Port 1 on loopback refuses connections.
        let error = await #expect(throws: HTTPTransportError.self) {
            _ = try await CurlTransport().send(
                HTTPRequest(
                    url: "http://user:hunter2@127.0.0.1:1/v1/",
                    credentials: BasicCredentials(username: "MA1", password: "topsecret")
                )
            )
        }
        let text = try #require(error).description
        #expect(error?.code == 7)
        #expect(error?.kind == .network)
        #expect(!text.contains("hunter2"))
        #expect(!text.contains("topsecret"))
        #expect(text.contains("http://127.0.0.1:1/…"), "scheme, host and port only")
        #expect(!BasicCredentials(username: "u", password: "topsecret").description.contains("topsecret"))
    }

    @Test("Basic auth, JSON bodies, methods and User-Agent reach the server")
    func requestShape() async throws {
        let server = try await TestServer()
        let response = try await CurlTransport().send(
            HTTPRequest(
                method: .post,
                url: await server.url("/echo"),
                body: .data(Data(#"{"a":1}"#.utf8), contentType: "application/json"),
                credentials: BasicCredentials(username: "MA1", password: "tok")
            )
        )
        let echo = try JSONDecoder().decode([String: String].self, from: response.body)
        #expect(echo["method"] == "POST")
        #expect(echo["content-type"] == "application/json")
        #expect(echo["body"] == #"{"a":1}"#)
        #expect(echo["authorization"] == "Basic " + Data("MA1:tok".utf8).base64EncodedString())
        #expect(echo["user-agent"]?.hasPrefix("compliance-watch/") == true)

        let delete = try await CurlTransport().send(HTTPRequest(method: .delete, url: await server.url("/echo")))
        #expect(try JSONDecoder().decode([String: String].self, from: delete.body)["method"] == "DELETE")
    }

    @Test("multipart bodies carry fields and the file")
    func multipart() async throws {
        let server = try await TestServer()
        let response = try await CurlTransport().send(
            HTTPRequest(
                method: .post,
                url: await server.url("/echo"),
                body: .multipart([
                    .field("alias", "proof"),
                    .file("file", filename: "bill.pdf", data: Data("%PDF-1.4".utf8), contentType: "application/pdf"),
                ])
            )
        )
        let echo = try JSONDecoder().decode([String: String].self, from: response.body)
        let body = try #require(echo["body"])
        #expect(echo["content-type"]?.hasPrefix("multipart/form-data; boundary=") == true)
        #expect(body.contains(#"name="alias""#))
        #expect(body.contains("proof"))
        #expect(body.contains(#"filename="bill.pdf""#))
        #expect(body.contains("Content-Type: application/pdf"))
        #expect(body.contains("%PDF-1.4"))
    }

    @Test("concurrent transfers are bounded but all complete")
    func boundedConcurrency() async throws {
        let server = try await TestServer()
        let transport = CurlTransport(configuration: .init(maxConcurrentTransfers: 2))
        let url = await server.url("/held")
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await transport.send(HTTPRequest(url: url)).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count == 20)
        #expect(statuses.allSatisfy { $0 == 200 })
        // The server saw at most two at once (and two, so the bound is what limited it).
        #expect(server.held.peak == 2)
    }

    @Test("shutdown racing sends and cancellations finishes every transfer and never touches a freed handle")
    func shutdownRace() async throws {
        let server = try await TestServer()
        let url = await server.url("/held")
        for _ in 0..<50 {
            let transport = CurlTransport(configuration: .init(maxConcurrentTransfers: 2))
            let sends = (0..<4).map { _ in Task { try await transport.send(HTTPRequest(url: url)) } }
            sends[0].cancel()
            transport.shutdown()
            sends[1].cancel()
            for send in sends {
                // Each ends: a response, or cancellation; none hangs, nothing crashes.
                switch await send.result {
                case .success(let response): #expect(response.status == 200)
                case .failure(let error): #expect(error is CancellationError)
                }
            }
            await #expect(throws: CancellationError.self) { try await transport.send(HTTPRequest(url: url)) }
        }
    }
}
