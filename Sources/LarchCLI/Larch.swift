import ArgumentParser
import Larch

@main
struct LarchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "larch", abstract: "Inspect and edit Larch databases.")
}
