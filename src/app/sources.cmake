list(APPEND PULMO_SOURCES app/quantify_job.cpp app/batch.cpp app/train_job.cpp app/queue.cpp app/folder_source.cpp app/orthanc_source.cpp app/serve.cpp)
