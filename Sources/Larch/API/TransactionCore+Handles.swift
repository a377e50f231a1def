/// Database handles, resolved against a transaction.
extension TransactionCore {
    /// The tree index for `db`, loading a named database's descriptor on first use.
    func tree(_ db: Database) throws(LarchError) -> Int {
        try checkActive()
        if db.index == TreeIndex.main { return TreeIndex.main }
        guard db.environment == ObjectIdentifier(env), let name = db.name else { throw .foreignDatabase }
        guard try loadNamed(index: db.index, name: name) == .present else { throw .databaseNotFound(name: name) }
        return db.index
    }

    /// Checks that `db` exists and is of the kind asked for (else `incompatibleDatabase`).
    func checkKind(_ db: Database, _ duplicates: Duplicates) throws(LarchError) {
        let t = try tree(db)
        let root = treeRoot(t)
        guard root.flags & ~TreeRoot.knownFlags == 0 else {
            throw .incompatibleDatabase(name: db.name ?? "", reason: "its descriptor has flags \(root.flags) that this build does not know")
        }
        switch (root.hasSortedDuplicates, duplicates) {
        case (true, .none):
            throw .incompatibleDatabase(name: db.name ?? "", reason: "it was created with sorted duplicates; open it with duplicates: .sorted")
        case (false, .sorted):
            throw .incompatibleDatabase(name: db.name ?? "", reason: "it was created without sorted duplicates; open it without duplicates: .sorted")
        default: break
        }
    }

    /// The handle for the named database `name` (which may not exist yet).
    func handle(_ name: String) throws(LarchError) -> Database {
        try checkActive()
        guard !name.isEmpty else { throw .invalidDatabaseName(name: name, reason: "names must not be empty") }
        guard name.utf8.count <= limits.maxKeySize else {
            throw .invalidDatabaseName(name: name, reason: "longer than \(limits.maxKeySize) bytes")
        }
        return Database(index: env.databaseIndex(name), name: name, environment: ObjectIdentifier(env))
    }

    /// The names of all named databases, in byte order.
    func databaseNames() throws(LarchError) -> [String] {
        try checkActive()
        var names: [String] = []
        let c = CursorState(core: self, tree: TreeIndex.catalog)
        var more = try c.first()
        while more {
            names.append(String(decoding: try c.currentKey(), as: UTF8.self))
            more = try c.next()
        }
        return names
    }
}
