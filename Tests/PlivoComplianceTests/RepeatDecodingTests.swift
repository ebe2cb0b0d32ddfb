import Foundation
import Testing
@testable import PlivoCompliance

@Suite("Decoding a list again without decoding its repeated objects")
struct RepeatDecodingTests {
    static func app(_ id: String, status: String = "submitted", extra: String = "") -> String {
        #"{"compliance_application_id": "\#(id)", "status": "\#(status)", "alias": "a {[\"]} b\#(extra)", "documents": [{"document_id": "d-\#(id)", "name": "x]"}], "created_at": null}"#
    }

    static func page(_ objects: [String], next: Bool = false) -> Data {
        Data(
            #"{"api_id": "p", "meta": {"limit": 20, "offset": 0, "total_count": \#(objects.count), "next": \#(next ? "\"n\"" : "null"), "objects": 1}, "objects": [\#(objects.joined(separator: ", "))]}"#
                .utf8
        )
    }

    @Test(
        "the split finds each element of the top-level array, whatever the strings and nesting hold",
        arguments: [
            #"{"objects": []}"#,
            #"{"objects": [{"a": 1}]}"#,
            #" { "meta" : {"objects": [9]} , "objects" : [ {"a": "}]\"{["}, {"b": [[], {}]}, 3, "s", null, true ] , "z": 1 } "#,
            #"{"x": "objects", "objects": [{"k": "\\"}, {"k": "\u0022"}]}"#,
        ]
    )
    func split(json: String) throws {
        let body = Data(json.utf8)
        let ranges = try #require(JSONObjectList.elements(of: "objects", in: body))
        let whole = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let expected = try #require(whole["objects"] as? [Any])
        #expect(ranges.count == expected.count)
        for (range, element) in zip(ranges, expected) {
            let slice = try JSONSerialization.jsonObject(with: body[range], options: .fragmentsAllowed)
            #expect(String(describing: slice) == String(describing: element))
        }
    }

    @Test(
        "no split of what is not an object with that array; the caller then decodes the plain way",
        arguments: [
            "", "[]", #"{"objects": {}}"#, #"{"meta": 1}"#, #"{"objects": [{"a": 1}"#, #"{"objects": [{"a": "1}]}"#,
            "<html>502</html>",
        ]
    )
    func noSplit(json: String) {
        #expect(JSONObjectList.elements(of: "objects", in: Data(json.utf8)) == nil)
    }

    @Test("a repeated page decodes to what a plain decode gives, without decoding its objects again")
    func repeats() throws {
        let decoder = RepeatDecoder<ComplianceApplication>(generationSize: 100)
        let body = Self.page((0..<5).map { Self.app("app-\($0)") }, next: true)
        let plain = try JSONDecoder().decode(Page<ComplianceApplication>.self, from: body)
        let first = try decoder.decodePage(body)
        #expect(decoder.count == 5)
        let second = try decoder.decodePage(body)
        #expect(decoder.count == 5)
        for page in [first, second] {
            #expect(page.objects == plain.objects)
            #expect(page.meta == plain.meta)
            #expect(page.apiId == plain.apiId)
        }
        // One object changed: it alone is decoded; the rest come back as they were.
        var objects = (0..<5).map { Self.app("app-\($0)") }
        objects[2] = Self.app("app-2", status: "accepted")
        let changed = try decoder.decodePage(Self.page(objects))
        #expect(changed.objects[2].status == .accepted)
        #expect(changed.objects.map(\.id) == plain.objects.map(\.id))
        #expect(decoder.count == 6)
    }

    @Test("a page a plain decode refuses is refused, even when every other object is known")
    func refusals() throws {
        let decoder = RepeatDecoder<ComplianceApplication>(generationSize: 100)
        let known = (0..<3).map { Self.app("app-\($0)") }
        _ = try decoder.decodePage(Self.page(known))
        let missingStatus = #"{"compliance_application_id": "app-9", "documents": []}"#
        let nullDocuments = #"{"compliance_application_id": "app-9", "status": "draft", "documents": null}"#
        for body in [
            Self.page(known + [missingStatus]), Self.page(known + [nullDocuments]), Self.page(known + ["7"]),
            Data(Self.page(known).dropLast(1)), Data(#"{"objects": "#.utf8) + Self.page(known),
        ] {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(Page<ComplianceApplication>.self, from: body) }
            #expect(throws: (any Error).self) { try decoder.decodePage(body) }
        }
    }

    @Test("values are kept for two generations; one seen again moves to the newer")
    func generations() throws {
        let decoder = RepeatDecoder<ComplianceApplication>(generationSize: 2)
        for id in ["a", "b", "c", "d", "e"] { _ = try decoder.decodePage(Self.page([Self.app(id)])) }
        // Generations of two: [e] and [c, d]; a and b are gone.
        #expect(decoder.count == 3)
        _ = try decoder.decodePage(Self.page([Self.app("c")]))
        #expect(decoder.count == 4)
    }
}
