list(APPEND PULMO_SOURCES pipeline/quantify.cpp)
