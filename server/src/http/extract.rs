//! Extractors whose rejections speak the API's error body instead of axum's plain text.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON body: 415 without a JSON content type, 413 over the size limit, 400 when malformed.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".into(),
            )),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                Error::PayloadTooLarge("the request body is too large".into()),
            ),
            Err(rejection) => Err(Error::BadRequest(rejection.body_text())),
        }
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| Error::BadRequest(rejection.body_text()))
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection: PathRejection| Error::BadRequest(rejection.body_text()))
    }
}

/// A JSON body that may be left out altogether (every field optional): no body, or no
/// content type with an empty body, means `T::default()`.
pub struct JsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrDefault<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let headers = req.headers();
        let no_body = !headers.contains_key(axum::http::header::CONTENT_TYPE)
            && headers
                .get(axum::http::header::CONTENT_LENGTH)
                .is_none_or(|len| len.as_bytes() == b"0");
        if no_body {
            return Ok(Self(T::default()));
        }
        ApiJson::from_request(req, state)
            .await
            .map(|ApiJson(value)| Self(value))
    }
}
