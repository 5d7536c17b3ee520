list(APPEND PULMO_SOURCES synth/anatomy.cpp synth/lesions.cpp synth/raster.cpp synth/phantom.cpp synth/insert.cpp)
