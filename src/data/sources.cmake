list(APPEND PULMO_SOURCES data/csv.cpp data/manifest.cpp data/adapters.cpp data/cases.cpp data/splits.cpp)
