list(APPEND PULMO_SOURCES report/json.cpp report/csv.cpp report/render.cpp report/html.cpp report/html_parts.cpp report/dicom_seg.cpp report/viewer.cpp
     report/niivue_bundle.cpp)
