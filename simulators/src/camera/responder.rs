//! [`CameraResponder`]: the camera's side of PTP as a pure state machine.
//! A command container goes in; the containers to send back come out in
//! order (data, response, events). No I/O, no clock: the TCP serving and
//! the link faults are [`super::simulator`]'s.
//!
//! | operation | outside a session | in a session |
//! | --- | --- | --- |
//! | GetDeviceInfo | DeviceInfo, Ok | DeviceInfo, Ok |
//! | OpenSession(id) | Ok (id 0: InvalidParameter) | SessionAlreadyOpened(open id) |
//! | anything else | SessionNotOpen | as below |
//! | CloseSession | | Ok, session closed |
//! | GetStorageIDs | | `[0x00010001]`, Ok |
//! | GetObjectHandles(storage, format, parent) | | handles, Ok; InvalidStorageId, SpecificationByFormatUnsupported, InvalidParentObject |
//! | GetObjectInfo(h), GetObject(h) | | data, Ok; InvalidObjectHandle |
//! | DeleteObject(h) | | Ok (h = 0xFFFFFFFF: all); InvalidObjectHandle |
//! | InitiateCapture(storage, format) | | Ok, event ObjectAdded(h), event CaptureComplete(tid); InvalidStorageId, InvalidObjectFormatCode |
//! | others | | OperationNotSupported |
//!
//! In a session a transaction id not above the last one is answered
//! InvalidTransactionID. Data, response and event containers from the
//! host are ignored (no operation here takes data from the host).

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use cardhub_protocols::ptp::{
    ALL, Container, DeviceInfo, EventCode, ObjectFormat, ObjectInfo, OperationCode, Params,
    ResponseCode, u32_array_bytes,
};

use super::picture::SimPhoto;

/// The simulated camera's one storage (its memory card): physical store 1,
/// logical 1, as cameras number their first card.
pub const STORAGE_ID: u32 = 0x0001_0001;

/// The operations the simulated camera answers.
const OPERATIONS: [OperationCode; 9] = [
    OperationCode::GetDeviceInfo,
    OperationCode::OpenSession,
    OperationCode::CloseSession,
    OperationCode::GetStorageIDs,
    OperationCode::GetObjectHandles,
    OperationCode::GetObjectInfo,
    OperationCode::GetObject,
    OperationCode::DeleteObject,
    OperationCode::InitiateCapture,
];

/// One object on the memory card.
#[derive(Clone, Debug)]
struct Stored {
    info: ObjectInfo,
    bytes: Vec<u8>,
}

/// The camera's side of PTP.
#[derive(Clone, Debug)]
pub struct CameraResponder {
    device_info: DeviceInfo,
    photo: SimPhoto,
    session: Option<NonZeroU32>,
    last_transaction: u32,
    objects: BTreeMap<u32, Stored>,
    next_handle: u32,
    captures: u64,
    announce_objects: bool,
}

impl CameraResponder {
    /// A camera with an empty memory card, taking `photo`s.
    pub fn new(photo: SimPhoto) -> Self {
        Self {
            device_info: DeviceInfo {
                standard_version: 100,
                vendor_extension_id: 0,
                vendor_extension_version: 0,
                vendor_extension_desc: String::new(),
                functional_mode: 0,
                operations_supported: OPERATIONS.to_vec(),
                events_supported: vec![EventCode::ObjectAdded, EventCode::CaptureComplete],
                device_properties_supported: Vec::new(),
                capture_formats: vec![ObjectFormat::ExifJpeg],
                image_formats: vec![ObjectFormat::ExifJpeg, ObjectFormat::Png],
                manufacturer: "cardhub".to_owned(),
                model: "Simulated ID camera".to_owned(),
                device_version: "1.0".to_owned(),
                serial_number: "SIM-0001".to_owned(),
            },
            photo,
            session: None,
            last_transaction: 0,
            objects: BTreeMap::new(),
            next_handle: 1,
            captures: 0,
            announce_objects: true,
        }
    }

    /// What `GetDeviceInfo` answers.
    pub fn device_info(&self) -> &DeviceInfo {
        &self.device_info
    }

    /// Changes the photo the next captures take.
    pub fn set_photo(&mut self, photo: SimPhoto) {
        self.photo = photo;
    }

    /// Whether captures announce their photo with `ObjectAdded` (false: a
    /// fault; the photo is stored all the same).
    pub fn set_announce_objects(&mut self, announce: bool) {
        self.announce_objects = announce;
    }

    /// Closes the session by the camera's own doing: the link dropped
    /// (a USB reset), or its power saving.
    pub fn close_session(&mut self) {
        self.session = None;
        self.last_transaction = 0;
    }

    /// The open session's id.
    pub fn session(&self) -> Option<NonZeroU32> {
        self.session
    }

    /// How many objects the memory card holds.
    pub fn objects(&self) -> usize {
        self.objects.len()
    }

    /// How many photos were taken.
    pub fn captures(&self) -> u64 {
        self.captures
    }

    /// The answers to one container from the host, in the order sent.
    pub fn handle(&mut self, container: Container) -> Vec<Container> {
        let Container::Command {
            code,
            transaction_id: tid,
            params,
        } = container
        else {
            return Vec::new();
        };
        let respond = |code: ResponseCode| vec![Container::response(code, tid, [])];
        if code.needs_session() {
            if self.session.is_none() {
                return respond(ResponseCode::SessionNotOpen);
            }
            if tid <= self.last_transaction {
                return respond(ResponseCode::InvalidTransactionID);
            }
            self.last_transaction = tid;
        }
        let with_data = |data: Vec<u8>| {
            vec![
                Container::Data {
                    code,
                    transaction_id: tid,
                    data,
                },
                Container::response(ResponseCode::Ok, tid, []),
            ]
        };
        let param = |i: usize| params.get(i).unwrap_or(0);
        match code {
            OperationCode::GetDeviceInfo => with_data(
                self.device_info
                    .to_bytes()
                    .expect("the simulated camera's strings are short"),
            ),
            OperationCode::OpenSession => self.open_session(tid, params),
            OperationCode::CloseSession => {
                self.close_session();
                respond(ResponseCode::Ok)
            }
            OperationCode::GetStorageIDs => with_data(u32_array_bytes(&[STORAGE_ID])),
            OperationCode::GetObjectHandles => match self.handles(param(0), param(1), param(2)) {
                Ok(handles) => with_data(u32_array_bytes(&handles)),
                Err(code) => respond(code),
            },
            OperationCode::GetObjectInfo => match self.objects.get(&param(0)) {
                Some(stored) => with_data(
                    stored
                        .info
                        .to_bytes()
                        .expect("the simulated camera's file names are short"),
                ),
                None => respond(ResponseCode::InvalidObjectHandle),
            },
            OperationCode::GetObject => match self.objects.get(&param(0)) {
                Some(stored) => with_data(stored.bytes.clone()),
                None => respond(ResponseCode::InvalidObjectHandle),
            },
            OperationCode::DeleteObject => respond(self.delete(param(0))),
            OperationCode::InitiateCapture => self.capture(tid, param(0), param(1)),
            _ => respond(ResponseCode::OperationNotSupported),
        }
    }

    fn open_session(&mut self, tid: u32, params: Params) -> Vec<Container> {
        let answer = match (self.session, params.get(0).and_then(NonZeroU32::new)) {
            (Some(open), _) => {
                return vec![Container::response(
                    ResponseCode::SessionAlreadyOpened,
                    tid,
                    [open.get()],
                )];
            }
            (None, None) => ResponseCode::InvalidParameter,
            (None, Some(id)) => {
                self.session = Some(id);
                self.last_transaction = 0;
                ResponseCode::Ok
            }
        };
        vec![Container::response(answer, tid, [])]
    }

    fn handles(&self, storage: u32, format: u32, parent: u32) -> Result<Vec<u32>, ResponseCode> {
        if storage != ALL && storage != STORAGE_ID {
            return Err(ResponseCode::InvalidStorageId);
        }
        if format != 0 {
            return Err(ResponseCode::SpecificationByFormatUnsupported);
        }
        if parent != 0 && parent != ALL {
            return Err(ResponseCode::InvalidParentObject);
        }
        Ok(self.objects.keys().copied().collect())
    }

    fn delete(&mut self, handle: u32) -> ResponseCode {
        if handle == ALL {
            self.objects.clear();
            return ResponseCode::Ok;
        }
        match self.objects.remove(&handle) {
            Some(_) => ResponseCode::Ok,
            None => ResponseCode::InvalidObjectHandle,
        }
    }

    fn capture(&mut self, tid: u32, storage: u32, format: u32) -> Vec<Container> {
        let refuse = |code| vec![Container::response(code, tid, [])];
        if storage != 0 && storage != STORAGE_ID {
            return refuse(ResponseCode::InvalidStorageId);
        }
        if format != 0 && format != u32::from(ObjectFormat::ExifJpeg.to_u16()) {
            return refuse(ResponseCode::InvalidObjectFormatCode);
        }
        let picture = self.photo.render(self.captures);
        self.captures += 1;
        let handle = self.next_handle;
        self.next_handle += 1;
        let info = ObjectInfo {
            storage_id: STORAGE_ID,
            object_format: picture.format,
            protection_status: 0,
            compressed_size: u32::try_from(picture.bytes.len())
                .expect("a simulated photo is under 4 GiB"),
            thumb_format: ObjectFormat::ExifJpeg,
            thumb_compressed_size: 0,
            thumb_width: 0,
            thumb_height: 0,
            image_width: picture.width,
            image_height: picture.height,
            image_bit_depth: 24,
            parent_object: 0,
            association_type: 0,
            association_desc: 0,
            sequence_number: 0,
            filename: format!("IMG_{:04}.{}", handle % 10_000, picture.extension()),
            capture_date: String::new(),
            modification_date: String::new(),
            keywords: String::new(),
        };
        self.objects.insert(
            handle,
            Stored {
                info,
                bytes: picture.bytes,
            },
        );
        let mut out = vec![Container::response(ResponseCode::Ok, tid, [])];
        if self.announce_objects {
            out.push(Container::Event {
                code: EventCode::ObjectAdded,
                transaction_id: tid,
                params: [handle].into(),
            });
        }
        out.push(Container::Event {
            code: EventCode::CaptureComplete,
            transaction_id: tid,
            params: [tid].into(),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(code: OperationCode, tid: u32, params: &[u32]) -> Container {
        Container::Command {
            code,
            transaction_id: tid,
            params: Params::new(params).expect("few parameters"),
        }
    }

    fn response_of(answers: &[Container]) -> ResponseCode {
        answers
            .iter()
            .find_map(|c| match c {
                Container::Response { code, .. } => Some(*code),
                _ => None,
            })
            .expect("every command gets a response")
    }

    fn open(camera: &mut CameraResponder) {
        let answers = camera.handle(command(OperationCode::OpenSession, 0, &[1]));
        assert_eq!(response_of(&answers), ResponseCode::Ok);
    }

    #[test]
    fn camera_session_rules_use_the_codes_of_ptp_h() {
        let mut camera = CameraResponder::new(SimPhoto::default());
        let answers = camera.handle(command(OperationCode::GetObjectInfo, 1, &[1]));
        assert_eq!(response_of(&answers), ResponseCode::SessionNotOpen);
        assert_eq!(answers[0].code(), 0x2003);
        let answers = camera.handle(command(OperationCode::CloseSession, 1, &[]));
        assert_eq!(response_of(&answers), ResponseCode::SessionNotOpen);
        let answers = camera.handle(command(OperationCode::OpenSession, 0, &[0]));
        assert_eq!(answers[0].code(), 0x201D);
        open(&mut camera);
        let answers = camera.handle(command(OperationCode::OpenSession, 0, &[2]));
        assert_eq!(answers[0].code(), 0x201E);
        assert_eq!(answers[0].params().get(0), Some(1));
        let answers = camera.handle(command(OperationCode::GetObjectInfo, 1, &[99]));
        assert_eq!(answers[0].code(), 0x2009);
        let answers = camera.handle(command(OperationCode::GetStorageIDs, 1, &[]));
        assert_eq!(answers[0].code(), 0x2004, "transaction 1 again");
        let answers = camera.handle(command(OperationCode::GetThumb, 2, &[1]));
        assert_eq!(answers[0].code(), 0x2005);
        let answers = camera.handle(command(OperationCode::CloseSession, 3, &[]));
        assert_eq!(response_of(&answers), ResponseCode::Ok);
        assert_eq!(camera.session(), None);
    }

    #[test]
    fn camera_capture_adds_an_object_and_announces_it() {
        let mut camera = CameraResponder::new(SimPhoto::default());
        open(&mut camera);
        let answers = camera.handle(command(OperationCode::InitiateCapture, 1, &[0, 0]));
        assert_eq!(answers.len(), 3);
        assert_eq!(response_of(&answers), ResponseCode::Ok);
        let added = answers[1].as_event().expect("an event");
        assert_eq!(added.code, EventCode::ObjectAdded);
        let handle = added.params.get(0).expect("the handle");
        assert_eq!(
            answers[2].as_event().map(|e| e.code),
            Some(EventCode::CaptureComplete)
        );

        let answers = camera.handle(command(OperationCode::GetObjectHandles, 2, &[ALL, 0, 0]));
        let Container::Data { data, .. } = &answers[0] else {
            panic!("{answers:?}")
        };
        assert_eq!(
            cardhub_protocols::ptp::parse_u32_array("handles", data),
            Ok(vec![handle])
        );

        let answers = camera.handle(command(OperationCode::GetObjectInfo, 3, &[handle]));
        let Container::Data { data, .. } = &answers[0] else {
            panic!("{answers:?}")
        };
        let info = ObjectInfo::parse(data).expect("a valid ObjectInfo");
        assert_eq!((info.image_width, info.image_height), (358, 441));
        assert_eq!(info.object_format, ObjectFormat::ExifJpeg);
        assert_eq!(info.filename, "IMG_0001.JPG");

        let answers = camera.handle(command(OperationCode::GetObject, 4, &[handle]));
        let Container::Data { data, .. } = &answers[0] else {
            panic!("{answers:?}")
        };
        assert_eq!(data.len(), info.compressed_size as usize);
        assert!(data.starts_with(&[0xFF, 0xD8]));

        let answers = camera.handle(command(OperationCode::DeleteObject, 5, &[handle, 0]));
        assert_eq!(response_of(&answers), ResponseCode::Ok);
        assert_eq!(camera.objects(), 0);
        let answers = camera.handle(command(OperationCode::DeleteObject, 6, &[handle, 0]));
        assert_eq!(response_of(&answers), ResponseCode::InvalidObjectHandle);
    }

    #[test]
    fn camera_refusals_of_bad_parameters() {
        let mut camera = CameraResponder::new(SimPhoto::default());
        open(&mut camera);
        let code = |camera: &mut CameraResponder, op, tid, params: &[u32]| {
            response_of(&camera.handle(command(op, tid, params)))
        };
        assert_eq!(
            code(&mut camera, OperationCode::InitiateCapture, 1, &[7, 0]),
            ResponseCode::InvalidStorageId
        );
        assert_eq!(
            code(&mut camera, OperationCode::InitiateCapture, 2, &[0, 0x3000]),
            ResponseCode::InvalidObjectFormatCode
        );
        assert_eq!(
            code(&mut camera, OperationCode::GetObjectHandles, 3, &[7]),
            ResponseCode::InvalidStorageId
        );
        assert_eq!(
            code(
                &mut camera,
                OperationCode::GetObjectHandles,
                4,
                &[ALL, 0x3801]
            ),
            ResponseCode::SpecificationByFormatUnsupported
        );
        assert_eq!(
            code(
                &mut camera,
                OperationCode::GetObjectHandles,
                5,
                &[ALL, 0, 9]
            ),
            ResponseCode::InvalidParentObject
        );
        assert_eq!(camera.captures(), 0);
    }

    #[test]
    fn camera_without_announcements_still_stores_the_photo() {
        let mut camera = CameraResponder::new(SimPhoto::default());
        camera.set_announce_objects(false);
        open(&mut camera);
        let answers = camera.handle(command(OperationCode::InitiateCapture, 1, &[0, 0]));
        let events: Vec<EventCode> = answers
            .iter()
            .filter_map(|c| c.as_event())
            .map(|e| e.code)
            .collect();
        assert_eq!(events, [EventCode::CaptureComplete]);
        assert_eq!(camera.objects(), 1);
        assert!(
            camera
                .handle(Container::response(ResponseCode::Ok, 2, []))
                .is_empty()
        );
    }
}
