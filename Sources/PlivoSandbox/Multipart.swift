import Foundation

/// One part of a parsed `multipart/form-data` body.
struct FormPart: Sendable {
    var name: String
    var filename: String?
    var data: Data
    var text: String { String(decoding: data, as: UTF8.self) }
}

/// Parses `multipart/form-data` (RFC 7578). Returns `nil` when the body does not match the boundary.
enum Multipart {
    static func boundary(fromContentType contentType: String) -> String? {
        for piece in contentType.split(separator: ";") {
            let trimmed = piece.trimmingCharacters(in: .whitespaces)
            if trimmed.lowercased().hasPrefix("boundary=") {
                return String(trimmed.dropFirst("boundary=".count)).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\"")
                )
            }
        }
        return nil
    }

    static func parse(_ body: Data, boundary: String) -> [FormPart]? {
        let delimiter = Data("--\(boundary)".utf8)
        let bytes = [UInt8](body)
        var positions: [Int] = []
        var searchFrom = 0
        while let range = find(Array(delimiter), in: bytes, from: searchFrom) {
            positions.append(range)
            searchFrom = range + delimiter.count
        }
        guard positions.count >= 2 else { return nil }
        var parts: [FormPart] = []
        for (start, end) in zip(positions, positions.dropFirst()) {
            var partStart = start + delimiter.count
            if partStart + 1 < bytes.count, bytes[partStart] == 13, bytes[partStart + 1] == 10 { partStart += 2 }
            var partEnd = end
            if partEnd >= 2, bytes[partEnd - 2] == 13, bytes[partEnd - 1] == 10 { partEnd -= 2 }
            guard partStart <= partEnd else { continue }
            let chunk = Array(bytes[partStart..<partEnd])
            guard let split = find([13, 10, 13, 10], in: chunk, from: 0) else { continue }
            let headerText = String(decoding: chunk[..<split], as: UTF8.self)
            let data = Data(chunk[(split + 4)...])
            var name: String?
            var filename: String?
            for line in headerText.components(separatedBy: "\r\n")
            where line.lowercased().hasPrefix("content-disposition:") {
                name = parameter("name", in: line)
                filename = parameter("filename", in: line)
            }
            parts.append(FormPart(name: name ?? "", filename: filename, data: data))
        }
        return parts
    }

    private static func parameter(_ key: String, in line: String) -> String? {
        for piece in line.split(separator: ";").dropFirst() {
            let trimmed = piece.trimmingCharacters(in: .whitespaces)
            guard let eq = trimmed.firstIndex(of: "=") else { continue }
            if trimmed[..<eq].lowercased() == key {
                return String(trimmed[trimmed.index(after: eq)...]).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\"")
                )
            }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else {
            return nil
        }
        var i = start
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0], Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
