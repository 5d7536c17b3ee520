list(APPEND PULMO_SOURCES train/trainer.cpp train/plot.cpp train/config.cpp)
