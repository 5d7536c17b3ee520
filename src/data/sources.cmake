list(APPEND PULMO_SOURCES data/preprocess.cpp data/augment.cpp data/loader.cpp)
