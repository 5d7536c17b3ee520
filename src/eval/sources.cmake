list(APPEND PULMO_SOURCES eval/surfels.cpp eval/edt.cpp eval/nearest.cpp eval/surface.cpp eval/segmentation.cpp eval/statistics.cpp
  eval/resample.cpp eval/manifest.cpp eval/set.cpp eval/set_report.cpp eval/readers.cpp
  eval/classification_report.cpp)
