list(APPEND PULMO_SOURCES cxr/image.cpp cxr/cases.cpp cxr/net.cpp cxr/train.cpp cxr/config.cpp cxr/predict.cpp cxr/report.cpp cxr/lungs.cpp)
