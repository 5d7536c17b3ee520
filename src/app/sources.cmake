list(APPEND PULMO_SOURCES app/quantify_job.cpp app/batch.cpp)
