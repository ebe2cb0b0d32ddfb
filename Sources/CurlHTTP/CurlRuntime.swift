internal import CCurl

/// Process-wide libcurl initialisation.
///
/// libcurl 7.84+ makes `curl_global_init` thread-safe when built with threadsafe init (Debian's is),
/// so a lazily initialised static is enough; it runs before the first handle is made.
enum CurlRuntime {
    private static let initialised: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    static func ensureInitialised() {
        precondition(initialised, "curl_global_init failed")
    }
}
