list(APPEND PULMO_SOURCES train/trainer.cpp train/box.cpp train/plot.cpp train/config.cpp)
