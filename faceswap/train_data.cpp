// train_data.cpp: face folders as a BatchSource (placeholder until the data pipeline lands).
#include "faceswap/train.h"

namespace fs {
std::unique_ptr<BatchSource> make_folder_source(const TrainConfig&, bool) {
    FS_FAIL("train: training from face folders needs the data pipeline, which is not built yet; use --synthetic");
}
}  // namespace fs
