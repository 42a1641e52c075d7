import CachetController

ControllerMain.run()
