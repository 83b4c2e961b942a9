import DevTools
import UCPCommands

await UCPMain.run(tooling: devTooling())
