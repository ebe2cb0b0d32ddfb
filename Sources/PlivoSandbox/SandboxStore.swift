import Foundation

/// The sandbox's in-memory Plivo: accounts, end users, documents, applications, and the reviewer.
///
/// Every method takes already-authenticated input and returns the reply Plivo would give.
actor SandboxStore {
    struct EndUser {
        var id: String
        var name: String
        var lastName: String
        var endUserType: String
        var createdAt: Date
    }

    struct Document {
        var id: String
        var endUserId: String
        var documentTypeId: String
        var alias: String
        var fileName: String?
        var meta: [String: String]
        var createdAt: Date
    }

    struct Application {
        var id: String
        var alias: String
        var status: String
        var rejectionReason: String?
        var endUserId: String
        var endUserType: String
        var country: String
        var numberType: String
        var requirementId: String
        var documentIds: [String]
        var createdAt: Date
    }

    /// One account's data. Ids keep creation order so lists can run newest first.
    struct Account {
        var endUsers: [String: EndUser] = [:]
        var endUserOrder: [String] = []
        var documents: [String: Document] = [:]
        var documentOrder: [String] = []
        var applications: [String: Application] = [:]
        var applicationOrder: [String] = []
        /// Bumped on every application change; list results are cached per version and filter.
        var version = 0
        var listCache: [String: (version: Int, ids: [String])] = [:]
    }

    /// Reviewer settings: `reviewAfter == nil` means review only on command.
    struct Reviewer: Sendable {
        var reviewAfter: Duration?
        var acceptRatio: Double
    }

    static let rejectionReasons = [
        "Address proof is older than 3 months",
        "Document is illegible",
        "Name on the document does not match the end user",
        "Business registration number is missing",
    ]

    let catalogue = Catalogue.standard
    private(set) var accounts: [String: Account] = [:]
    private var reviewQueue: [(due: ContinuousClock.Instant, account: String, id: String)] = []
    /// Applications away until the given instant: left out of lists, Plivo's 404 on GET.
    private var vanished: [String: ContinuousClock.Instant] = [:]
    var reviewer: Reviewer

    init(accounts: [String], reviewer: Reviewer) {
        for account in accounts { self.accounts[account] = Account() }
        self.reviewer = reviewer
    }

    func hasAccount(_ id: String) -> Bool { accounts[id] != nil }

    func reset() {
        for key in accounts.keys { accounts[key] = Account() }
        reviewQueue.removeAll()
        vanished.removeAll()
    }

    func setReviewer(_ reviewer: Reviewer) { self.reviewer = reviewer }

    private func mutate<T>(_ account: String, _ body: (inout Account) -> T) -> T {
        var data = accounts[account] ?? Account()
        let result = body(&data)
        accounts[account] = data
        return result
    }

    // MARK: Reviewer

    /// Applies reviews that have come due. Called before every request, so the simulator needs no
    /// background task and what a client sees is always consistent.
    func runDueReviews(now: ContinuousClock.Instant = .now) {
        while let first = reviewQueue.first, first.due <= now {
            reviewQueue.removeFirst()
            guard accounts[first.account]?.applications[first.id]?.status == "submitted" else { continue }
            if Double.random(in: 0..<1) < reviewer.acceptRatio {
                setStatus(account: first.account, id: first.id, status: "accepted", reason: nil)
            } else {
                setStatus(
                    account: first.account,
                    id: first.id,
                    status: "rejected",
                    reason: Self.rejectionReasons.randomElement()
                )
            }
        }
    }

    private func scheduleReview(account: String, id: String) {
        guard let delay = reviewer.reviewAfter else { return }
        reviewQueue.append((ContinuousClock.now + delay, account, id))
    }

    @discardableResult
    func setStatus(account: String, id: String, status: String, reason: String?) -> Bool {
        mutate(account) { data in
            guard data.applications[id] != nil else { return false }
            data.applications[id]!.status = status
            data.applications[id]!.rejectionReason = reason
            data.version += 1
            return true
        }
    }

    /// `POST /_sandbox/applications/{id}/review`: any status string, set directly.
    func review(id: String, status: String, reason: String?) -> Reply {
        for account in accounts.keys where accounts[account]?.applications[id] != nil {
            setStatus(account: account, id: id, status: status, reason: reason)
            if status.lowercased() == "submitted" { scheduleReview(account: account, id: id) }
            return .json(200, applicationJSON(accounts[account]!.applications[id]!, extra: []))
        }
        return .notFound()
    }

    // MARK: Seeding

    /// Creates `count` applications with end users and documents, statuses drawn by `ratios`.
    func seed(account: String, count: Int, ratios: [(String, Double)]) -> JSON {
        let total = ratios.reduce(0) { $0 + $1.1 }
        var statuses: [String] = []
        for (index, (status, ratio)) in ratios.enumerated() {
            let n =
                index == ratios.count - 1
                ? count - statuses.count : Int((Double(count) * ratio / max(total, 1e-9)).rounded())
            statuses += Array(repeating: status, count: max(0, min(n, count - statuses.count)))
        }
        statuses.shuffle()
        let now = Date()
        var applicationIds: [String] = [], endUserIds: [String] = [], documentIds: [String] = []
        let companies = [
            "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "wonka", "cyberdyne",
        ]
        mutate(account) { data in
            for (i, status) in statuses.enumerated() {
                let created = now.addingTimeInterval(-Double(count - i) * 60)
                let country = Catalogue.countries[i % Catalogue.countries.count].iso2
                let numberType = Catalogue.numberTypes[i % Catalogue.numberTypes.count]
                let endUserType = i % 3 == 0 ? "individual" : "business"
                let company = companies[i % companies.count]
                let user = EndUser(
                    id: randomId(),
                    name: endUserType == "business" ? "\(company.capitalized) \(i)" : "Alex",
                    lastName: endUserType == "business" ? "" : "Martin \(i)",
                    endUserType: endUserType,
                    createdAt: created
                )
                data.endUsers[user.id] = user
                data.endUserOrder.append(user.id)
                endUserIds.append(user.id)
                let requirement = catalogue.requirement(
                    country: country,
                    numberType: numberType,
                    endUserType: endUserType
                )!
                var docs: [String] = []
                for group in requirement.groups {
                    let doc = Document(
                        id: randomId(),
                        endUserId: user.id,
                        documentTypeId: group.types[0],
                        alias: "\(company) \(group.name.trimmingCharacters(in: .whitespaces).lowercased())",
                        fileName: "proof-\(i).pdf",
                        meta: [:],
                        createdAt: created
                    )
                    data.documents[doc.id] = doc
                    data.documentOrder.append(doc.id)
                    docs.append(doc.id)
                }
                documentIds += docs
                let app = Application(
                    id: randomId(),
                    alias: "\(company)-\(country.lowercased())-\(numberType)-\(i)",
                    status: status,
                    rejectionReason: status == "rejected"
                        ? Self.rejectionReasons[i % Self.rejectionReasons.count] : nil,
                    endUserId: user.id,
                    endUserType: endUserType,
                    country: country,
                    numberType: numberType,
                    requirementId: requirement.id,
                    documentIds: docs,
                    createdAt: created
                )
                data.applications[app.id] = app
                data.applicationOrder.append(app.id)
                applicationIds.append(app.id)
            }
            data.version += 1
        }
        for (id, status) in zip(applicationIds, statuses) where status == "submitted" {
            scheduleReview(account: account, id: id)
        }
        return .obj(
            ("account", .string(account)),
            ("count", .int(applicationIds.count)),
            ("application_ids", .array(applicationIds.map(JSON.string))),
            ("end_user_ids", .array(endUserIds.map(JSON.string))),
            ("document_ids", .array(documentIds.map(JSON.string)))
        )
    }

    // MARK: Paging

    struct Paging {
        var limit: Int
        var offset: Int
    }

    /// Reads `limit` and `offset` as Plivo does: 1…20, default 20; offset ≥ 0.
    static func paging(_ query: [String: String]) throws(Reply) -> Paging {
        let limitText = query["limit"].flatMap { $0.isEmpty ? nil : $0 }
        let offsetText = query["offset"].flatMap { $0.isEmpty ? nil : $0 }
        guard let limit = limitText.map({ Int($0) }) ?? 20, (1...20).contains(limit) else {
            throw .error(
                400,
                "The maximum number of results that can be fetched is 20. limit can't be more than 20 or less than 1"
            )
        }
        guard let offset = offsetText.map({ Int($0) }) ?? 0, offset >= 0 else {
            throw .error(400, "offset can't be negative")
        }
        return Paging(limit: limit, offset: offset)
    }

    /// The list envelope with relative `next`/`previous` URLs carrying the same filters.
    static func page(
        account: String,
        resource: String,
        paging: Paging,
        total: Int,
        objects: [JSON],
        filters: [(String, String)]
    ) -> JSON {
        func link(_ offset: Int) -> JSON {
            var items = [("limit", String(paging.limit)), ("offset", String(offset))] + filters
            items = items.filter { !$0.1.isEmpty }
            let query = items.map {
                "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)"
            }
            return .string("/v1/Account/\(account)/\(resource)/?" + query.joined(separator: "&"))
        }
        let next = paging.offset + paging.limit < total ? link(paging.offset + paging.limit) : JSON.null
        let previous = paging.offset > 0 ? link(max(0, paging.offset - paging.limit)) : JSON.null
        return .obj(
            ("api_id", .string(randomId())),
            (
                "meta",
                .obj(
                    ("limit", .int(paging.limit)),
                    ("next", next),
                    ("offset", .int(paging.offset)),
                    ("previous", previous),
                    ("total_count", .int(total))
                )
            ),
            ("objects", .array(objects))
        )
    }

    private static func matches(_ value: String?, _ filter: String?) -> Bool {
        guard let filter, !filter.isEmpty else { return true }
        return value?.caseInsensitiveCompare(filter) == .orderedSame
    }

    // MARK: Applications

    func applicationJSON(_ app: Application, extra: [(String, JSON)]) -> JSON {
        let account = accounts.first { $0.value.applications[app.id] != nil }?.value
        let documents: [JSON] = app.documentIds.compactMap { id in
            guard let doc = account?.documents[id] else { return nil }
            let type = catalogue.documentType(doc.documentTypeId)
            let group = catalogue.requirement(app.requirementId)?.groups.first { $0.types.contains(doc.documentTypeId) }
            return .obj(
                ("document_id", .string(doc.id)),
                ("name", .str(group?.name)),
                ("document_name", .string(doc.alias)),
                ("document_type_id", .string(doc.documentTypeId)),
                ("document_type_name", .str(type?.name)),
                ("scope", .str(group?.scope))
            )
        }
        var pairs: [(String, JSON)] = extra
        pairs += [
            ("compliance_application_id", .string(app.id)), ("alias", .string(app.alias)),
            ("status", .string(app.status)),
        ]
        if let reason = app.rejectionReason { pairs.append(("rejection_reason", .string(reason))) }
        pairs += [
            ("end_user_id", .string(app.endUserId)), ("end_user_type", .string(app.endUserType)),
            ("country_iso2", .string(app.country)), ("number_type", .string(app.numberType)),
            ("compliance_requirement_id", .string(app.requirementId)), ("documents", .array(documents)),
            ("created_at", .string(Timestamp.offset(app.createdAt))),
        ]
        return .object(pairs)
    }

    /// Makes an application vanish for `duration`, then come back as it was.
    /// - Returns: `false` if there is no such application.
    @discardableResult
    func vanish(id: String, for duration: Duration) -> Bool {
        guard accounts.values.contains(where: { $0.applications[id] != nil }) else { return false }
        vanished[id] = .now + duration
        return true
    }

    private func isVanished(_ id: String) -> Bool {
        guard let until = vanished[id] else { return false }
        if until > .now { return true }
        vanished[id] = nil
        return false
    }

    func listApplications(account: String, query: [String: String]) -> Reply {
        let paging: Paging
        do { paging = try Self.paging(query) } catch { return error }
        let filterKeys = ["status", "end_user_type", "number_type", "country_iso2", "alias", "end_user_id"]
        // Go's SDK sends `country` instead of `country_iso2`.
        var filters = filterKeys.map { ($0, query[$0] ?? "") }
        if filters[3].1.isEmpty, let country = query["country"] { filters[3].1 = country }
        let cacheKey = filters.map { "\($0.0)=\($0.1.lowercased())" }.joined(separator: "&")
        let ids: [String] = mutate(account) { data in
            if let cached = data.listCache[cacheKey], cached.version == data.version { return cached.ids }
            let f = Dictionary(uniqueKeysWithValues: filters)
            let ids = data.applicationOrder.reversed().filter { id in
                guard let a = data.applications[id] else { return false }
                return Self.matches(a.status, f["status"]) && Self.matches(a.endUserType, f["end_user_type"])
                    && Self.matches(a.numberType, f["number_type"]) && Self.matches(a.country, f["country_iso2"])
                    && Self.matches(a.alias, f["alias"]) && Self.matches(a.endUserId, f["end_user_id"])
            }
            data.listCache[cacheKey] = (data.version, ids)
            return ids
        }
        let slice = ids.dropFirst(paging.offset).prefix(paging.limit)
        let data = accounts[account]!
        let objects = slice.filter { !isVanished($0) }.compactMap {
            data.applications[$0].map { applicationJSON($0, extra: []) }
        }
        return .json(
            200,
            Self.page(
                account: account,
                resource: "ComplianceApplication",
                paging: paging,
                total: ids.count,
                objects: objects,
                filters: filters.filter { !$0.1.isEmpty }
            )
        )
    }

    func getApplication(account: String, id: String) -> Reply {
        guard let app = accounts[account]?.applications[id], !isVanished(id) else { return .notFound() }
        return .json(200, applicationJSON(app, extra: [("api_id", .string(randomId()))]))
    }

    func createApplication(account: String, body: JSON) -> Reply {
        guard let alias = body["alias"]?.text else { return .error(400, "alias is required") }
        guard let endUserId = body["end_user_id"]?.text else { return .error(400, "end_user_id is required") }
        guard let user = accounts[account]?.endUsers[endUserId] else {
            return .error(400, "end_user_id \(endUserId) not found")
        }
        var documentIds: [String] = []
        if case .array(let items)? = body["document_ids"] { documentIds = items.compactMap(\.text) }
        for id in documentIds where accounts[account]?.documents[id] == nil {
            return .error(400, "document_id \(id) not found")
        }
        let requirement: Catalogue.Requirement
        if let id = body["compliance_requirement_id"]?.text {
            guard let found = catalogue.requirement(id) else {
                return .error(400, "compliance_requirement_id \(id) not found")
            }
            requirement = found
        } else if let country = body["country_iso2"]?.text, let numberType = body["number_type"]?.text {
            let endUserType = body["end_user_type"]?.text ?? user.endUserType
            guard let found = catalogue.requirement(country: country, numberType: numberType, endUserType: endUserType)
            else {
                return .error(
                    400,
                    "no compliance requirement for country_iso2 \(country), number_type \(numberType), end_user_type \(endUserType)"
                )
            }
            requirement = found
        } else {
            return .error(400, "compliance_requirement_id, or country_iso2 and number_type, are required")
        }
        let app = Application(
            id: randomId(),
            alias: alias,
            status: "draft",
            rejectionReason: nil,
            endUserId: endUserId,
            endUserType: requirement.endUserType,
            country: requirement.country,
            numberType: requirement.numberType,
            requirementId: requirement.id,
            documentIds: documentIds,
            createdAt: Date()
        )
        mutate(account) { data in
            data.applications[app.id] = app
            data.applicationOrder.append(app.id)
            data.version += 1
        }
        return .json(
            201,
            applicationJSON(app, extra: [("api_id", .string(randomId())), ("message", .string("created"))])
        )
    }

    func updateApplication(account: String, id: String, body: JSON) -> Reply {
        guard let app = accounts[account]?.applications[id] else { return .notFound() }
        guard ["draft", "rejected"].contains(app.status.lowercased()) else {
            return .error(
                400,
                "Compliance application can be updated only in draft or rejected status. Current status: '\(app.status)'."
            )
        }
        var documentIds = app.documentIds
        if case .array(let items)? = body["document_ids"] { documentIds = items.compactMap(\.text) }
        for doc in documentIds where accounts[account]?.documents[doc] == nil {
            return .error(400, "document_id \(doc) not found")
        }
        mutate(account) { data in
            data.applications[id]!.documentIds = documentIds
            data.version += 1
        }
        return .json(202, .obj(("api_id", .string(randomId())), ("message", .string("changed"))))
    }

    func deleteApplication(account: String, id: String) -> Reply {
        let removed = mutate(account) { data -> Bool in
            guard data.applications.removeValue(forKey: id) != nil else { return false }
            data.applicationOrder.removeAll { $0 == id }
            data.version += 1
            return true
        }
        return removed ? .noContent : .notFound()
    }

    func submitApplication(account: String, id: String) -> Reply {
        guard let app = accounts[account]?.applications[id] else { return .notFound() }
        guard ["draft", "rejected"].contains(app.status.lowercased()) else {
            return .error(
                400,
                "Compliance application can be submitted only in draft or rejected status. Current status: '\(app.status)'."
            )
        }
        setStatus(account: account, id: id, status: "submitted", reason: nil)
        scheduleReview(account: account, id: id)
        return .json(
            200,
            applicationJSON(accounts[account]!.applications[id]!, extra: [("api_id", .string(randomId()))])
        )
    }

    // MARK: End users

    private func endUserJSON(_ user: EndUser, extra: [(String, JSON)]) -> JSON {
        .object(
            extra + [
                ("end_user_id", .string(user.id)), ("name", .string(user.name)), ("last_name", .string(user.lastName)),
                ("end_user_type", .string(user.endUserType)), ("created_at", .string(Timestamp.zulu(user.createdAt))),
            ]
        )
    }

    func createEndUser(account: String, body: JSON) -> Reply {
        guard let name = body["name"]?.text else { return .error(400, "name is required") }
        guard let type = body["end_user_type"]?.text, Catalogue.endUserTypes.contains(type.lowercased()) else {
            return .error(400, "end_user_type must be individual or business")
        }
        let user = EndUser(
            id: randomId(),
            name: name,
            lastName: body["last_name"]?.text ?? "",
            endUserType: type,
            createdAt: Date()
        )
        mutate(account) { data in
            data.endUsers[user.id] = user
            data.endUserOrder.append(user.id)
        }
        return .json(201, endUserJSON(user, extra: [("api_id", .string(randomId())), ("message", .string("created"))]))
    }

    func getEndUser(account: String, id: String) -> Reply {
        guard let user = accounts[account]?.endUsers[id] else { return .notFound() }
        return .json(200, endUserJSON(user, extra: [("api_id", .string(randomId()))]))
    }

    func listEndUsers(account: String, query: [String: String]) -> Reply {
        let paging: Paging
        do { paging = try Self.paging(query) } catch { return error }
        let data = accounts[account] ?? Account()
        let users = data.endUserOrder.reversed().compactMap { data.endUsers[$0] }.filter {
            Self.matches($0.name, query["name"]) && Self.matches($0.lastName, query["last_name"])
                && Self.matches($0.endUserType, query["end_user_type"])
        }
        let objects = users.dropFirst(paging.offset).prefix(paging.limit).map { endUserJSON($0, extra: []) }
        let filters = ["name", "last_name", "end_user_type"].compactMap { key in query[key].map { (key, $0) } }
        return .json(
            200,
            Self.page(
                account: account,
                resource: "EndUser",
                paging: paging,
                total: users.count,
                objects: objects,
                filters: filters
            )
        )
    }

    func updateEndUser(account: String, id: String, body: JSON) -> Reply {
        guard accounts[account]?.endUsers[id] != nil else { return .notFound() }
        if let type = body["end_user_type"]?.text, !Catalogue.endUserTypes.contains(type.lowercased()) {
            return .error(400, "end_user_type must be individual or business")
        }
        mutate(account) { data in
            if let name = body["name"]?.text { data.endUsers[id]!.name = name }
            if let lastName = body["last_name"]?.text { data.endUsers[id]!.lastName = lastName }
            if let type = body["end_user_type"]?.text { data.endUsers[id]!.endUserType = type }
        }
        return .json(202, .obj(("api_id", .string(randomId())), ("message", .string("changed"))))
    }

    func deleteEndUser(account: String, id: String) -> Reply {
        let removed = mutate(account) { data -> Bool in
            guard data.endUsers.removeValue(forKey: id) != nil else { return false }
            data.endUserOrder.removeAll { $0 == id }
            return true
        }
        return removed ? .noContent : .notFound()
    }

    // MARK: Documents

    /// Form fields that are not metadata. `api_id` is PHP's stray part; "" is Go's nameless one.
    private static let documentControlFields: Set<String> = [
        "end_user_id", "document_type_id", "alias", "file", "api_id", "",
    ]
    static let maxFileBytes = 5 * 1024 * 1024

    private func documentJSON(_ doc: Document, listForm: Bool, extra: [(String, JSON)]) -> JSON {
        var pairs = extra
        pairs.append((listForm ? "compliance_document_id" : "document_id", .string(doc.id)))
        pairs += [
            ("document_type_id", .string(doc.documentTypeId)), ("end_user_id", .string(doc.endUserId)),
            ("alias", .string(doc.alias)),
        ]
        if let file = doc.fileName { pairs.append((listForm ? "file" : "file_name", .string(file))) }
        pairs.append(
            ("meta_information", .object(doc.meta.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        )
        pairs.append(("created_at", .string(listForm ? Timestamp.go(doc.createdAt) : Timestamp.zulu(doc.createdAt))))
        return .object(pairs)
    }

    /// Splits form parts into control fields, metadata and the file. Empty values count as absent.
    private static func readForm(
        _ parts: [FormPart]
    ) -> (fields: [String: String], meta: [String: String], file: FormPart?) {
        var fields: [String: String] = [:], meta: [String: String] = [:]
        var file: FormPart?
        for part in parts {
            if part.name == "file" {
                if !part.data.isEmpty { file = part }  // Python sends an empty file part when there is none
                continue
            }
            let value = part.text
            guard !value.isEmpty else { continue }
            if documentControlFields.contains(part.name) { fields[part.name] = value } else { meta[part.name] = value }
        }
        return (fields, meta, file)
    }

    private static func checkFile(_ file: FormPart?) -> Reply? {
        guard let file else { return nil }
        if file.data.count > maxFileBytes { return .error(400, "file is larger than 5 MB") }
        if (file.filename ?? "").count > 99 { return .error(400, "file name is longer than 99 characters") }
        return nil
    }

    func createDocument(account: String, parts: [FormPart]) -> Reply {
        let (fields, meta, file) = Self.readForm(parts)
        guard let endUserId = fields["end_user_id"] else { return .error(400, "end_user_id is required") }
        guard accounts[account]?.endUsers[endUserId] != nil else {
            return .error(400, "end_user_id \(endUserId) not found")
        }
        guard let typeId = fields["document_type_id"] else { return .error(400, "document_type_id is required") }
        guard let type = catalogue.documentType(typeId) else {
            return .error(400, "document_type_id \(typeId) not found")
        }
        guard let alias = fields["alias"] else { return .error(400, "alias is required") }
        for field in type.fields where field.required && meta[field.name] == nil {
            return .error(400, "\(field.name) not provided")
        }
        if let problem = Self.checkFile(file) { return problem }
        let doc = Document(
            id: randomId(),
            endUserId: endUserId,
            documentTypeId: typeId,
            alias: alias,
            fileName: file.map { URL(fileURLWithPath: $0.filename ?? "file").lastPathComponent },
            meta: meta,
            createdAt: Date()
        )
        mutate(account) { data in
            data.documents[doc.id] = doc
            data.documentOrder.append(doc.id)
        }
        return .json(
            201,
            documentJSON(
                doc,
                listForm: false,
                extra: [("api_id", .string(randomId())), ("message", .string("created"))]
            )
        )
    }

    func updateDocument(account: String, id: String, parts: [FormPart]) -> Reply {
        guard accounts[account]?.documents[id] != nil else { return .notFound() }
        let (fields, meta, file) = Self.readForm(parts)
        if let problem = Self.checkFile(file) { return problem }
        mutate(account) { data in
            if let alias = fields["alias"] { data.documents[id]!.alias = alias }
            data.documents[id]!.meta.merge(meta) { _, new in new }
            if let file {
                data.documents[id]!.fileName = URL(fileURLWithPath: file.filename ?? "file").lastPathComponent
            }
        }
        return .json(202, .obj(("api_id", .string(randomId())), ("message", .string("changed"))))
    }

    func getDocument(account: String, id: String) -> Reply {
        guard let doc = accounts[account]?.documents[id] else { return .notFound() }
        return .json(200, documentJSON(doc, listForm: false, extra: [("api_id", .string(randomId()))]))
    }

    func listDocuments(account: String, query: [String: String]) -> Reply {
        let paging: Paging
        do { paging = try Self.paging(query) } catch { return error }
        let data = accounts[account] ?? Account()
        let docs = data.documentOrder.reversed().compactMap { data.documents[$0] }.filter {
            Self.matches($0.endUserId, query["end_user_id"])
                && Self.matches($0.documentTypeId, query["document_type_id"])
                && Self.matches($0.alias, query["alias"])
        }
        let objects = docs.dropFirst(paging.offset).prefix(paging.limit).map {
            documentJSON($0, listForm: true, extra: [])
        }
        let filters = ["end_user_id", "document_type_id", "alias"].compactMap { key in query[key].map { (key, $0) } }
        return .json(
            200,
            Self.page(
                account: account,
                resource: "ComplianceDocument",
                paging: paging,
                total: docs.count,
                objects: objects,
                filters: filters
            )
        )
    }

    func deleteDocument(account: String, id: String) -> Reply {
        let removed = mutate(account) { data -> Bool in
            guard data.documents.removeValue(forKey: id) != nil else { return false }
            data.documentOrder.removeAll { $0 == id }
            return true
        }
        return removed ? .noContent : .notFound()
    }

    // MARK: Catalogue

    private func documentTypeJSON(_ type: Catalogue.DocumentType, extra: [(String, JSON)]) -> JSON {
        let information: [JSON] = type.fields.map { field in
            .obj(
                ("field_name", .string(field.name)),
                ("field_type", .string(field.type)),
                ("friendly_name", .string(field.friendly)),
                ("max_length", field.maxLength.map(JSON.int)),
                ("min_length", .int(field.required ? 1 : 0)),
                ("format", field.format.map(JSON.string)),
                ("enums", field.enums.isEmpty ? nil : .array(field.enums.map(JSON.string)))
            )
        }
        return .object(
            extra + [
                ("document_type_id", .string(type.id)), ("document_name", .string(type.name)),
                ("description", .string(type.description)), ("information", .array(information)),
                ("proof_required", .string(type.proofRequired)),
                ("created_at", .string(Timestamp.spaced(Date(timeIntervalSince1970: 1_541_273_553.240504)))),
            ]
        )
    }

    func listDocumentTypes(account: String, query: [String: String]) -> Reply {
        let paging: Paging
        do { paging = try Self.paging(query) } catch { return error }
        let types = catalogue.documentTypes
        let objects = types.dropFirst(paging.offset).prefix(paging.limit).map { documentTypeJSON($0, extra: []) }
        return .json(
            200,
            Self.page(
                account: account,
                resource: "ComplianceDocumentType",
                paging: paging,
                total: types.count,
                objects: objects,
                filters: []
            )
        )
    }

    func getDocumentType(id: String) -> Reply {
        guard let type = catalogue.documentType(id) else { return .notFound() }
        return .json(200, documentTypeJSON(type, extra: [("api_id", .string(randomId()))]))
    }

    private func requirementJSON(_ r: Catalogue.Requirement) -> JSON {
        let groups: [JSON] = r.groups.map { group in
            .obj(
                ("name", .string(group.name)),
                ("scope", .string(group.scope)),
                (
                    "acceptable_documents",
                    .array(
                        group.types.map { id in
                            .obj(
                                ("document_type_id", .string(id)),
                                ("document_type_name", .str(catalogue.documentType(id)?.name))
                            )
                        }
                    )
                )
            )
        }
        return .obj(
            ("api_id", .string(randomId())),
            ("compliance_requirement_id", .string(r.id)),
            ("country_iso2", .string(r.country)),
            ("number_type", .string(r.numberType)),
            ("end_user_type", .string(r.endUserType)),
            ("acceptable_document_types", .array(groups))
        )
    }

    func getRequirement(id: String) -> Reply {
        guard let r = catalogue.requirement(id) else { return .notFound() }
        return .json(200, requirementJSON(r))
    }

    /// The filtered GET answers with one object, not a list. `operation_type` and Java's stray
    /// `id` parameter are accepted and ignored.
    func lookupRequirement(query: [String: String]) -> Reply {
        let q = query.filter { !$0.value.isEmpty }
        guard let endUserType = q["end_user_type"] else {
            return .error(400, "end_user_type is required, with country_iso2 and number_type or with phone_number")
        }
        let country: String, numberType: String
        if let phone = q["phone_number"] {
            guard let found = catalogue.classify(phoneNumber: phone) else {
                return .error(400, "phone_number \(phone) is not a valid number")
            }
            (country, numberType) = found
        } else if let c = q["country_iso2"], let n = q["number_type"] {
            (country, numberType) = (c, n)
        } else {
            return .error(400, "country_iso2 and number_type, or phone_number, are required")
        }
        guard let r = catalogue.requirement(country: country, numberType: numberType, endUserType: endUserType) else {
            return .notFound()
        }
        return .json(200, requirementJSON(r))
    }
}
