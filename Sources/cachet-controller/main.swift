import CachetController

await ControllerMain.run()
