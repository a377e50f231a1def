/// Marking a version-3 file as version 4 (FORMAT.md §16): every version-3 file is a valid
/// version-4 file, so only the metas' version field (and their checksum, which covers it) change.
extension Environment {
    /// What `upgrade(path:)` did.
    public struct UpgradeResult: Sendable, Equatable {
        /// The format version the file had before (the newer of its metas').
        public var previousVersion: UInt32
        /// Meta pages rewritten (0 when the file was already at the current version).
        public var metasRewritten: Int
    }

    /// Rewrites the meta pages of the version-3 file at `path` as version 4, so that this build
    /// opens it. Crash-safe: each meta is rewritten and synced on its own, the newest commit's
    /// first, so a crash leaves the newest commit readable and this call can simply be repeated. A file already at version 4
    /// is left as it is. Holds the writer lock while it works; no process should have the file
    /// open (a build that reads only version 3 stops reading a meta once it is rewritten).
    /// Throws `notALarchFile`, or `unsupportedVersion` for versions other than 3 and 4, or
    /// `bothMetaPagesInvalid` when neither meta is a valid version-3 or version-4 meta.
    public static func upgrade(path: String) throws(LarchError) -> UpgradeResult {
        let file = try DataFile.open(path: path, create: false, readOnly: false)
        defer { file.close() }
        try file.lockWriter(timeout: nil)
        defer { file.unlockWriter() }
        let size = try file.size()
        var metas: [[UInt8]] = []
        var found: [UInt32] = []
        var reasons: [String] = []
        // Page 0 first: its page size tells where page 1 is.
        var pageSize = 0
        for slot in 0..<2 {
            var bytes = [UInt8](repeating: 0, count: MetaPage.maxEncodedSize)
            let offset = slot * pageSize
            guard offset + bytes.count <= size else {
                metas.append([]); found.append(0); reasons.append("the file is too short to hold it")
                continue
            }
            try Self.read(file, into: &bytes, at: offset)
            let (version, problem) = Self.upgradableMeta(&bytes)
            metas.append(bytes); found.append(version); reasons.append(problem ?? "")
            if slot == 0 {
                let s = bytes.withUnsafeBytes { Int($0.baseAddress!.u32(at: 12)) }
                pageSize = problem == nil && PageLayout.isValidPageSize(s) ? s : PageLayout.minPageSize
            }
        }
        let valid = (0..<2).filter { reasons[$0].isEmpty }
        guard !valid.isEmpty else {
            if metas.allSatisfy({ $0.prefix(8).elementsEqual(MetaPage.magic) == false }) { throw .notALarchFile(path: path) }
            if let v = found.first(where: { $0 != 0 && $0 != 3 && $0 != MetaPage.formatVersion }) {
                throw .unsupportedVersion(path: path, found: v, supported: MetaPage.formatVersion)
            }
            throw .bothMetaPagesInvalid(path: path, page0: reasons[0], page1: reasons[1])
        }
        let previous = valid.map { found[$0] }.max()!
        var rewritten = 0
        // The newest commit's meta first: a crash between the two writes then leaves the newest
        // commit readable by this build, and the older meta is rewritten by the next call.
        let txnOf = { (slot: Int) -> UInt64 in metas[slot].withUnsafeBytes { $0.baseAddress!.u64(at: 16) } }
        for slot in valid.sorted(by: { txnOf($0) > txnOf($1) }) where found[slot] == 3 {
            var bytes = metas[slot]
            bytes.withUnsafeMutableBytes { b in
                b.baseAddress!.setU32(MetaPage.formatVersion, at: 8)
                MetaPage.seal(b.baseAddress!)
            }
            guard case .success = MetaPage.decode(bytes) else {
                throw .corruptPage(page: UInt64(slot), reason: "the upgraded meta does not decode; the file was left as it was")
            }
            // Only the version (bytes 8–11) and the checksum (268–271) differ: one write covers
            // both, within the page's first 512-byte sector, so no crash (a kill between two
            // writes, or a torn page) can leave a new version under an old checksum — a meta that
            // fails, while the other one still holds the older commit.
            try Self.write(file, Array(bytes[8..<(MetaPage.checksumOffset + 4)]), at: slot * pageSize + 8)
            try file.sync()
            rewritten += 1
        }
        return UpgradeResult(previousVersion: previous, metasRewritten: rewritten)
    }

    private static func read(_ file: DataFile, into bytes: inout [UInt8], at offset: Int) throws(LarchError) {
        var failure: LarchError?
        bytes.withUnsafeMutableBytes { b in
            do throws(LarchError) { try file.read(into: b, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private static func write(_ file: DataFile, _ bytes: [UInt8], at offset: Int) throws(LarchError) {
        var failure: LarchError?
        bytes.withUnsafeBytes { b in
            do throws(LarchError) { try file.write(b, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Checks the meta in `bytes`: its version (3 or the current one) and its checksum. Returns the
    /// version found and, when the meta cannot be used, why.
    private static func upgradableMeta(_ bytes: inout [UInt8]) -> (UInt32, String?) {
        guard bytes.prefix(8).elementsEqual(MetaPage.magic) else { return (0, "no Larch magic number") }
        let version = bytes.withUnsafeBytes { $0.baseAddress!.u32(at: 8) }
        guard version == 3 || version == MetaPage.formatVersion else { return (version, "format version \(version)") }
        let stored = bytes.withUnsafeBytes { $0.baseAddress!.u32(at: MetaPage.checksumOffset) }
        let computed = bytes.withUnsafeBytes { MetaPage.computedChecksum($0.baseAddress!) }
        guard stored == computed else { return (version, "checksum mismatch: stored \(hex32(stored)), computed \(hex32(computed))") }
        return (version, nil)
    }
}
