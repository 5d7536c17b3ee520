list(APPEND PULMO_SOURCES data/csv.cpp data/manifest.cpp data/adapters.cpp data/cases.cpp data/splits.cpp data/schemas.cpp)
list(APPEND PULMO_SOURCES data/preprocess.cpp data/augment.cpp data/loader.cpp data/windowed.cpp data/covid_semiseg.cpp)
