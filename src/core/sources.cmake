list(APPEND PULMO_SOURCES core/error.cpp core/runtime.cpp core/fileutil.cpp core/hash.cpp core/duration.cpp core/config_text.cpp)
