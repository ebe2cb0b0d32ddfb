import Foundation

/// Reads a small text file with POSIX calls, so a failure carries the system's reason
/// ("No such file or directory", "Permission denied") rather than Foundation's generic text.
enum TextFile {
    struct ReadError: Error {
        var reason: String
    }

    static func contents(of path: String) throws(ReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            data.append(buffer, count: count)
            if data.count > 16 << 20 { throw ReadError(reason: "file is larger than 16 MB") }
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ReadError(reason: "not UTF-8 text") }
        return text
    }
}
