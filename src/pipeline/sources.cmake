list(APPEND PULMO_SOURCES pipeline/quantify.cpp pipeline/classical.cpp pipeline/cascade.cpp)
