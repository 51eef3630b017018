//! `GET /v1/health`: liveness, version, and the build id of the served PWA.

use hearth_shared::api::Health;
use hyper::{Response, StatusCode};

use crate::app::App;
use crate::error::ApiError;
use crate::http::{ResBody, json};

pub fn get(app: &App) -> Result<Response<ResBody>, ApiError> {
    let health = Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        build: app.build_id.clone(),
        protocol: hearth_shared::PROTOCOL_VERSION,
        registration: app.config.registration.mode(),
        max_file_bytes: app.config.max_file_bytes,
    };
    json(StatusCode::OK, &health)
}
