/// Both meta pages as read from the file, each decoded or with the reason it cannot be used, and
/// the choice of the current one (docs/FORMAT.md §13).
struct MetaSlots {
    var first: Result<MetaPage, MetaPage.DecodeFailure>
    var second: Result<MetaPage, MetaPage.DecodeFailure>

    var slots: [Result<MetaPage, MetaPage.DecodeFailure>] { [first, second] }

    /// When no meta is valid and page 0 is too long for the file: another process may be growing
    /// it (the caller reads the size again), or the file is truncated.
    var truncation: MetaPage.DecodeFailure? {
        guard case .failure(let a) = first, case .failure = second, case .truncated = a else { return nil }
        return a
    }

    /// The page size of the valid metas; throws the reason the file cannot be opened when neither
    /// decodes.
    func pageSize(path: String, fileSize: Int) throws(LarchError) -> Int {
        switch (first, second) {
        case (.success(let m), _), (_, .success(let m)): return m.pageSize
        case let (.failure(a), .failure(b)):
            if a == .badMagic && b == .badMagic { throw .notALarchFile(path: path) }
            if case .unsupportedVersion(let v) = a, case .unsupportedVersion = b {
                throw .unsupportedVersion(path: path, found: v, supported: MetaPage.formatVersion)
            }
            if case .unsupportedVersion(let v) = a, b == .badMagic {
                throw .unsupportedVersion(path: path, found: v, supported: MetaPage.formatVersion)
            }
            if case .truncated(let required, _) = a {
                throw .truncatedFile(path: path, sizeBytes: fileSize, requiredBytes: required)
            }
            throw .bothMetaPagesInvalid(path: path, page0: a.description, page1: b.description)
        }
    }

    /// The current meta and its page: the valid one with the higher transaction id whose commit
    /// is whole. A meta not newer than `published` was checked (and synced) by a process of this
    /// boot; a newer one is checked here (`CommitVerifier`), and when its commit did not reach the
    /// disk whole — a crash before its sync — the other meta, the previous commit, is current.
    func current(mapping: Mapping, published: TransactionID, verify: Bool, path: String) throws(LarchError) -> (MetaPage, Int) {
        var reasons = slots.map { r -> String in
            if case .failure(let f) = r { return f.description }
            return ""
        }
        let candidates = slots.enumerated().compactMap { slot, r -> (MetaPage, Int)? in
            if case .success(let m) = r { return (m, slot) }
            return nil
        }.sorted { $0.0.txnID > $1.0.txnID || ($0.0.txnID == $1.0.txnID && $0.1 < $1.1) }
        for (meta, slot) in candidates {
            if !verify || meta.txnID <= published { return (meta, slot) }
            var verifier = CommitVerifier(meta: meta, mapping: mapping)
            do {
                try verifier.run()
                return (meta, slot)
            } catch {
                reasons[slot] = "transaction \(meta.txnID)'s commit is not whole on disk (a crash before its sync): \(error)"
            }
        }
        throw .bothMetaPagesInvalid(path: path, page0: reasons[0], page1: reasons[1])
    }
}
