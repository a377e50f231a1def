import Testing
@testable import Larch
@Test func smoke() throws {}
