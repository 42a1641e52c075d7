import CachetCLI

CachetMain.run()
