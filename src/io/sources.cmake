list(APPEND PULMO_SOURCES io/read.cpp io/dicom.cpp io/dicom_grey.cpp io/dicom_seg.cpp io/write.cpp io/deid.cpp io/http.cpp io/dicomweb.cpp io/dicom_sr.cpp)
