list(APPEND PULMO_SOURCES app/quantify_job.cpp app/batch.cpp app/train_job.cpp)
