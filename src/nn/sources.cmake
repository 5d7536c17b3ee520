list(APPEND PULMO_SOURCES nn/unet.cpp nn/losses.cpp nn/model.cpp nn/inference.cpp nn/autocast.cpp nn/schemas.cpp)
