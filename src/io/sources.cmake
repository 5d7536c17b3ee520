list(APPEND PULMO_SOURCES io/read.cpp io/dicom.cpp io/write.cpp)
