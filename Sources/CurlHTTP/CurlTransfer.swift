internal import CCurl
import Foundation
import Synchronization

/// What a finished transfer produced.
struct CurlOutcome: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
}

/// One easy handle and everything it points at while it runs.
///
/// Only the engine thread touches the handle and the buffers; `cancelled` and the completion are
/// the two fields other threads reach, and both are synchronised. That discipline is why this is
/// `@unchecked Sendable`.
final class CurlTransfer: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    let url: String
    private let maxBodyBytes: Int
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var extraLists: [UnsafeMutablePointer<curl_slist>] = []
    private var mime: OpaquePointer?
    private var uploadData: Data = Data()
    private var uploadOffset = 0

    fileprivate var body = Data()
    fileprivate var headers = HTTPHeaders()
    fileprivate var bodyTooLarge = false

    let cancelled = Atomic<Bool>(false)
    private let completion: Mutex<(@Sendable (Result<CurlOutcome, any Error>) -> Void)?>

    init(
        url: String,
        maxBodyBytes: Int,
        completion: @escaping @Sendable (Result<CurlOutcome, any Error>) -> Void
    ) throws {
        CurlRuntime.ensureInitialised()
        guard let easy = curl_easy_init() else {
            throw HTTPTransportError(kind: .invalidRequest, code: 0, message: "curl_easy_init failed", url: url)
        }
        self.easy = easy
        self.url = url
        self.maxBodyBytes = maxBodyBytes
        self.completion = Mutex(completion)
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))

        let me = Unmanaged.passUnretained(self).toOpaque()
        try set(CURLOPT_URL, url)
        try set(CURLOPT_NOSIGNAL, 1)
        try check(ccurl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(ccurl_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION, curlWriteBody))
        try check(ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me))
        try check(ccurl_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION, curlWriteHeader))
        try check(ccurl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me))
        // TLS verification is always on; there is deliberately no way to turn it off.
        try set(CURLOPT_SSL_VERIFYPEER, 1)
        try set(CURLOPT_SSL_VERIFYHOST, 2)
        try set(CURLOPT_FOLLOWLOCATION, 0)
    }

    deinit {
        curl_easy_cleanup(easy)
        if let headerList { curl_slist_free_all(headerList) }
        extraLists.forEach { curl_slist_free_all($0) }
        if let mime { curl_mime_free(mime) }
        errorBuffer.deallocate()
    }

    // MARK: Options

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(ccurl_easy_setopt_long(easy, option, value))
    }

    func set(_ option: CURLoption, _ value: String) throws {
        try check(ccurl_easy_setopt_string(easy, option, value))  // curl copies strings
    }

    func setPointer(_ option: CURLoption, _ value: UnsafeMutableRawPointer) throws {
        try check(ccurl_easy_setopt_ptr(easy, option, value))
    }

    func setLarge(_ option: CURLoption, _ value: Int64) throws {
        try check(ccurl_easy_setopt_off(easy, option, curl_off_t(value)))
    }

    /// Appends request headers; the list lives as long as the transfer.
    func setHeaders(_ lines: [String]) throws {
        for line in lines {
            headerList = curl_slist_append(headerList, line)
        }
        try check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList))
    }

    /// Sets a list option such as CURLOPT_MAIL_RCPT; the list lives as long as the transfer.
    func setList(_ option: CURLoption, _ values: [String]) throws {
        var list: UnsafeMutablePointer<curl_slist>?
        for value in values { list = curl_slist_append(list, value) }
        if let list { extraLists.append(list) }
        try check(ccurl_easy_setopt_slist(easy, option, list))
    }

    /// Sets a multipart body. curl copies each part's bytes.
    func setMultipart(_ parts: [MultipartPart]) throws {
        let mime = curl_mime_init(easy)
        self.mime = mime
        for part in parts {
            let handle = curl_mime_addpart(mime)
            try check(curl_mime_name(handle, part.name))
            try part.data.withUnsafeBytes { raw in
                try check(curl_mime_data(handle, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count))
            }
            if let filename = part.filename { try check(curl_mime_filename(handle, filename)) }
            if let type = part.contentType { try check(curl_mime_type(handle, type)) }
        }
        try check(ccurl_easy_setopt_mime(easy, mime))
    }

    /// Supplies an upload body through the read callback (used for SMTP).
    func setUpload(_ data: Data) throws {
        uploadData = data
        uploadOffset = 0
        try check(ccurl_easy_setopt_read_function(easy, curlReadUpload))
        try check(ccurl_easy_setopt_ptr(easy, CURLOPT_READDATA, Unmanaged.passUnretained(self).toOpaque()))
        try set(CURLOPT_UPLOAD, 1)
        try setLarge(CURLOPT_INFILESIZE_LARGE, Int64(data.count))
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else { throw makeError(code) }
    }

    // MARK: Completion

    /// Resumes the waiter exactly once; later calls are ignored.
    func finish(_ result: Result<CurlOutcome, any Error>) {
        let completion = self.completion.withLock { current in
            defer { current = nil }
            return current
        }
        completion?(result)
    }

    /// Turns curl's final code into an outcome or a `HTTPTransportError`.
    func finish(code: CURLcode) {
        guard code == CURLE_OK else {
            finish(.failure(makeError(code)))
            return
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        finish(.success(CurlOutcome(status: status, headers: headers, body: body)))
    }

    func makeError(_ code: CURLcode) -> HTTPTransportError {
        let message = String(cString: curl_easy_strerror(code))
        let detail = String(cString: errorBuffer)
        let kind: HTTPTransportError.Kind
        if bodyTooLarge {
            return HTTPTransportError(
                kind: .bodyTooLarge,
                code: Int32(code.rawValue),
                message: "response body exceeds \(maxBodyBytes) bytes",
                detail: message,
                url: url
            )
        }
        switch code {
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_UNKNOWN_OPTION,
            CURLE_NOT_BUILT_IN, CURLE_LOGIN_DENIED:
            kind = .invalidRequest
        default: kind = .network
        }
        return HTTPTransportError(kind: kind, code: Int32(code.rawValue), message: message, detail: detail, url: url)
    }

    // MARK: Callback bodies

    fileprivate func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maxBodyBytes else {
            bodyTooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func receiveHeader(_ line: String) {
        let trimmed = line.trimmingWhitespace()
        if trimmed.hasPrefix("HTTP/") {
            headers = HTTPHeaders()  // a new response (after 100 Continue): drop earlier headers
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = String(trimmed[..<colon].trimmingWhitespace())
        let value = String(trimmed[trimmed.index(after: colon)...].trimmingWhitespace())
        headers.append(name: name, value: value)
    }

    fileprivate func readUpload(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, uploadData.count - uploadOffset)
        guard count > 0 else { return 0 }
        uploadData.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[uploadOffset..<(uploadOffset + count)]))
        }
        uploadOffset += count
        return count
    }
}

// C callbacks: plain functions, no captures, the transfer arrives through the user pointer.

private func curlWriteBody(
    _ pointer: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ user: UnsafeMutableRawPointer?
) -> Int {
    guard let user else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    let total = size * count
    return transfer.receive(UnsafeRawBufferPointer(start: pointer, count: total)) ? total : 0
}

private func curlWriteHeader(
    _ pointer: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ user: UnsafeMutableRawPointer?
) -> Int {
    guard let user, let pointer else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    let total = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: pointer, count: total), as: UTF8.self)
    transfer.receiveHeader(line)
    return total
}

private func curlReadUpload(
    _ pointer: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ user: UnsafeMutableRawPointer?
) -> Int {
    guard let user, let pointer else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    return transfer.readUpload(into: UnsafeMutableRawBufferPointer(start: pointer, count: size * count))
}
