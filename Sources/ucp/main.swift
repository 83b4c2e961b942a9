import UCPCommands
await UCPMain.run()
