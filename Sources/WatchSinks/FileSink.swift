import WatchCore
