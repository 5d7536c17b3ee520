list(APPEND PULMO_SOURCES eval/surfels.cpp eval/edt.cpp eval/surface.cpp eval/segmentation.cpp eval/statistics.cpp
  eval/resample.cpp)
