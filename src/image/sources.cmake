list(APPEND PULMO_SOURCES image/geometry.cpp image/volume.cpp image/stats.cpp image/canvas.cpp image/morphology.cpp image/resample.cpp)
