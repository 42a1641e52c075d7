import CachetDevCluster

await DevClusterMain.run()
