list(APPEND PULMO_SOURCES train/trainer.cpp train/checkpoint.cpp train/optim.cpp train/amp.cpp train/box.cpp train/plot.cpp
     train/config.cpp)
